# Finds oneDNN (Debian: libdnnl-dev) for its dnnl_sgemm and, in the benchmarks, its RNN
# primitives. Defines DNNL::dnnl. Hint: DNNL_ROOT (CMake or environment variable).

set(_dnnl_hints ${DNNL_ROOT} $ENV{DNNL_ROOT})
find_path(DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.h HINTS ${_dnnl_hints} PATH_SUFFIXES include)
find_library(DNNL_LIBRARY NAMES dnnl libdnnl.so.2 HINTS ${_dnnl_hints}
  PATH_SUFFIXES lib lib64 lib/x86_64-linux-gnu)

if(DNNL_INCLUDE_DIR AND EXISTS "${DNNL_INCLUDE_DIR}/oneapi/dnnl/dnnl_version.h")
  file(STRINGS "${DNNL_INCLUDE_DIR}/oneapi/dnnl/dnnl_version.h" _dnnl_lines
       REGEX "#define DNNL_VERSION_(MAJOR|MINOR|PATCH) ")
  foreach(_part MAJOR MINOR PATCH)
    string(REGEX MATCH "DNNL_VERSION_${_part} +([0-9]+)" _match "${_dnnl_lines}")
    set(_dnnl_${_part} "${CMAKE_MATCH_1}")
  endforeach()
  set(DNNL_VERSION "${_dnnl_MAJOR}.${_dnnl_MINOR}.${_dnnl_PATCH}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(DNNL
  REQUIRED_VARS DNNL_LIBRARY DNNL_INCLUDE_DIR
  VERSION_VAR DNNL_VERSION
  REASON_FAILURE_MESSAGE "Install libdnnl-dev (apt-get install libdnnl-dev) or set DNNL_ROOT")

if(DNNL_FOUND AND NOT TARGET DNNL::dnnl)
  add_library(DNNL::dnnl UNKNOWN IMPORTED)
  set_target_properties(DNNL::dnnl PROPERTIES
    IMPORTED_LOCATION "${DNNL_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${DNNL_INCLUDE_DIR}")
endif()
mark_as_advanced(DNNL_INCLUDE_DIR DNNL_LIBRARY)
