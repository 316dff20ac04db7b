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

install(EXPORT rnnxTargets NAMESPACE rnnx:: DESTINATION ${RNNX_INSTALL_CMAKEDIR})
configure_package_config_file(cmake/rnnxConfig.cmake.in
  "${PROJECT_BINARY_DIR}/rnnxConfig.cmake"
  INSTALL_DESTINATION ${RNNX_INSTALL_CMAKEDIR})
write_basic_package_version_file("${PROJECT_BINARY_DIR}/rnnxConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/rnnxConfig.cmake"
  "${PROJECT_BINARY_DIR}/rnnxConfigVersion.cmake"
  cmake/FindDNNL.cmake
  cmake/FindOpenBLAS.cmake
  cmake/FindCUBLAS.cmake
  cmake/FindCUDNN.cmake
  DESTINATION ${RNNX_INSTALL_CMAKEDIR})
