# Warnings, sanitizers and CPU flags shared by every Ferris target (ferris_options).
add_library(ferris_options INTERFACE)
target_compile_options(ferris_options INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wno-missing-field-initializers>
  # No code reads errno after math calls; this lets loops over exp() use vector math (libmvec).
  $<$<COMPILE_LANGUAGE:CXX>:-fno-math-errno>
  # CUDA (FERRIS_CUDA): host-compiler warnings for .cu files; no fast math (parity with the CPU).
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra,-Wshadow>)
if(FERRIS_NATIVE)
  target_compile_options(ferris_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-march=native>)
else()
  # Portable x86-64 baseline that still has AVX2/FMA/F16C (every x86 server of the last decade).
  target_compile_options(ferris_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-mavx2 -mfma -mf16c>)
endif()
if(FERRIS_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "FERRIS_FUZZ needs Clang (libFuzzer): cmake --preset fuzz")
  endif()
  set(FERRIS_SANITIZE ON)
  # Coverage for libFuzzer in every Ferris object; the targets link -fsanitize=fuzzer.
  # Clang's notes on GCC-tuned code (F16C intrinsics' compound literals, `omp simd` loops it
  # leaves scalar) say nothing about the inputs being fuzzed: silenced here.
  target_compile_options(ferris_options INTERFACE
    $<$<NOT:$<COMPILE_LANGUAGE:CUDA>>:-fsanitize=fuzzer-no-link -Wno-c99-extensions -Wno-pass-failed>)
endif()
if(FERRIS_SANITIZE)
  # Host code only: nvcc does not take -fsanitize (CUDA kernels are not instrumented).
  target_compile_options(ferris_options INTERFACE
    $<$<NOT:$<COMPILE_LANGUAGE:CUDA>>:-fsanitize=address,undefined -fno-omit-frame-pointer
                                      -fno-sanitize-recover=undefined>)
  target_link_options(ferris_options INTERFACE -fsanitize=address,undefined)
endif()
