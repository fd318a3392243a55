# FERRIS_CUDA defaults to ON when CMake finds a CUDA compiler (nvcc on PATH, or CUDACXX), else
# OFF; -DFERRIS_CUDA=ON/OFF overrides. Without nvcc the build is exactly the CPU build
# (backends/cuda_stub answers for CUDA devices).
# sm_80 (A100), sm_89 (L4/L40/RTX 40), sm_90 (H100/H200) as real code + compute_90 PTX for newer.
set(FERRIS_CUDA_ARCHITECTURES "80-real;89-real;90-real;90-virtual")
if(NOT DEFINED FERRIS_CUDA)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(FERRIS_CUDA_DEFAULT ON)
  else()
    set(FERRIS_CUDA_DEFAULT OFF)
  endif()
endif()
option(FERRIS_CUDA "Build the CUDA backend (default: ON when nvcc is found)" ${FERRIS_CUDA_DEFAULT})
if(NOT FERRIS_CUDA)
  message(STATUS "Ferris: CUDA backend OFF (no nvcc found, or -DFERRIS_CUDA=OFF): CPU only")
endif()
