# cmake --install: headers, the library, and a package so that consumers write
#   find_package(rnnx CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE rnnx::rnnx)
include(CMakePackageConfigHelpers)

set(RNNX_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/rnnx")

install(TARGETS rnnx EXPORT rnnxTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/rnnx DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")
install(FILES "${PROJECT_BINARY_DIR}/include/rnnx/version.h"
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/rnnx)
if(RNNX_BUILD_CLI)
  install(TARGETS rnnx_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
if(RNNX_CUDA)
  # The GPU module, which librnnx loads at the first need of a GPU (docs/GPU_LIBRARIES.md):
  # <prefix>/lib is where an installed program (bin/../lib) and a find_package(rnnx) consumer
  # (the run path rnnxConfig.cmake adds) look.
  install(TARGETS rnnx_gpu LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()

install(EXPORT rnnxTargets NAMESPACE rnnx:: DESTINATION ${RNNX_INSTALL_CMAKEDIR})
configure_package_config_file(cmake/rnnxConfig.cmake.in
  "${PROJECT_BINARY_DIR}/rnnxConfig.cmake"
  INSTALL_DESTINATION ${RNNX_INSTALL_CMAKEDIR})
write_basic_package_version_file("${PROJECT_BINARY_DIR}/rnnxConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
# No CUDA package: librnnx links no CUDA library; the GPU module carries them.
install(FILES
  "${PROJECT_BINARY_DIR}/rnnxConfig.cmake"
  "${PROJECT_BINARY_DIR}/rnnxConfigVersion.cmake"
  cmake/FindDNNL.cmake
  cmake/FindOpenBLAS.cmake
  DESTINATION ${RNNX_INSTALL_CMAKEDIR})
