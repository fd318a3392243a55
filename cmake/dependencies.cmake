# Every dependency comes from a Debian package (scripts/setup installs them); nothing is fetched.
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)

set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)
find_path(OPENBLAS_CBLAS_INCLUDE cblas.h PATH_SUFFIXES openblas-pthread openblas REQUIRED)
# OpenBLAS is loaded at first use (src/backends/cpu/blas.cpp), not linked: its load-time thread
# pool would cost every command ~6 ms of start-up. The path found here is tried first.
list(GET BLAS_LIBRARIES 0 FERRIS_OPENBLAS_LIBRARY)
get_filename_component(FERRIS_OPENBLAS_LIBRARY "${FERRIS_OPENBLAS_LIBRARY}" REALPATH)

find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)

if(FERRIS_TESTS)
  find_package(GTest REQUIRED)
endif()
if(FERRIS_BENCH)
  find_package(benchmark QUIET)
endif()
