# Finds cuBLAS and defines the imported target CUBLAS::cublas.
#
# Uses the CUDA toolkit's CUDA::cublas when the toolkit has it; otherwise looks in CUBLAS_ROOT
# (CMake or environment variable), e.g. a pip install's .../site-packages/nvidia/cu13, whose
# lib/ may hold only the versioned libcublas.so.13.

if(NOT TARGET CUDA::cublas)
  find_package(CUDAToolkit QUIET)
endif()

if(TARGET CUDA::cublas)
  set(CUBLAS_FOUND TRUE)
  if(NOT TARGET CUBLAS::cublas)
    add_library(CUBLAS::cublas INTERFACE IMPORTED)
    set_target_properties(CUBLAS::cublas PROPERTIES INTERFACE_LINK_LIBRARIES CUDA::cublas)
  endif()
  return()
endif()

set(_cublas_hints ${CUBLAS_ROOT} $ENV{CUBLAS_ROOT})
find_path(CUBLAS_INCLUDE_DIR cublas_v2.h HINTS ${_cublas_hints} PATH_SUFFIXES include)
find_library(CUBLAS_LIBRARY NAMES cublas libcublas.so.13 libcublas.so.12
  HINTS ${_cublas_hints} PATH_SUFFIXES lib lib64)
find_library(CUBLASLT_LIBRARY NAMES cublasLt libcublasLt.so.13 libcublasLt.so.12
  HINTS ${_cublas_hints} PATH_SUFFIXES lib lib64)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CUBLAS
  REQUIRED_VARS CUBLAS_LIBRARY CUBLASLT_LIBRARY CUBLAS_INCLUDE_DIR
  REASON_FAILURE_MESSAGE "Set CUBLAS_ROOT to the folder that holds include/cublas_v2.h and lib/libcublas.so*")

if(CUBLAS_FOUND AND NOT TARGET CUBLAS::cublas)
  add_library(CUBLAS::cublas UNKNOWN IMPORTED)
  set_target_properties(CUBLAS::cublas PROPERTIES
    IMPORTED_LOCATION "${CUBLAS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CUBLAS_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${CUBLASLT_LIBRARY}")
endif()
mark_as_advanced(CUBLAS_INCLUDE_DIR CUBLAS_LIBRARY CUBLASLT_LIBRARY)
