# The CUDA language and toolkit for FERRIS_CUDA=ON: FERRIS_CUDA_ARCHITECTURES (cuda_option.cmake)
# unless CMAKE_CUDA_ARCHITECTURES is given; cuBLAS/cuBLASLt from the toolkit.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES "${FERRIS_CUDA_ARCHITECTURES}")
endif()
include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  message(FATAL_ERROR "FERRIS_CUDA=ON but no CUDA compiler was found: put nvcc on PATH, set "
                      "CUDACXX, or configure with -DFERRIS_CUDA=OFF for the CPU build")
endif()
enable_language(CUDA)
# C++20 for .cu files too (they include the C++20 Ferris headers). CMake 3.25 knows no CUDA20
# dialect for nvcc (added in 3.26 for nvcc >= 12), so it is taught here.
if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION
   AND CMAKE_CUDA_COMPILER_VERSION VERSION_GREATER_EQUAL 12.0)
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
  list(APPEND CMAKE_CUDA_COMPILE_FEATURES cuda_std_20)
endif()
set(CMAKE_CUDA_STANDARD 20)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
set(CMAKE_CUDA_EXTENSIONS OFF)
find_package(CUDAToolkit REQUIRED)
message(STATUS "Ferris: CUDA backend ON (CUDA ${CUDAToolkit_VERSION}, "
               "architectures ${CMAKE_CUDA_ARCHITECTURES})")
