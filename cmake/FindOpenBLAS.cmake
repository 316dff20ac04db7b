# Finds OpenBLAS with its CBLAS header (Debian: libopenblas-dev), for float64 GEMM, which oneDNN
# lacks. Defines OpenBLAS::OpenBLAS. Hint: OPENBLAS_ROOT (CMake or environment variable).

set(_openblas_hints ${OPENBLAS_ROOT} $ENV{OPENBLAS_ROOT})
find_path(OPENBLAS_INCLUDE_DIR cblas.h openblas_config.h HINTS ${_openblas_hints}
  PATH_SUFFIXES include/x86_64-linux-gnu/openblas-pthread include/openblas include)
find_library(OPENBLAS_LIBRARY NAMES openblas libopenblas.so.0 HINTS ${_openblas_hints}
  PATH_SUFFIXES lib/x86_64-linux-gnu/openblas-pthread lib/x86_64-linux-gnu lib lib64
                x86_64-linux-gnu/openblas-pthread)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(OpenBLAS
  REQUIRED_VARS OPENBLAS_LIBRARY OPENBLAS_INCLUDE_DIR
  REASON_FAILURE_MESSAGE "Install libopenblas-dev (apt-get install libopenblas-dev) or set OPENBLAS_ROOT")

if(OpenBLAS_FOUND AND NOT TARGET OpenBLAS::OpenBLAS)
  add_library(OpenBLAS::OpenBLAS UNKNOWN IMPORTED)
  set_target_properties(OpenBLAS::OpenBLAS PROPERTIES
    IMPORTED_LOCATION "${OPENBLAS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${OPENBLAS_INCLUDE_DIR}")
endif()
mark_as_advanced(OPENBLAS_INCLUDE_DIR OPENBLAS_LIBRARY)
