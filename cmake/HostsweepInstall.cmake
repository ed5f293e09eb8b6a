include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Two components, both installed by a plain `cmake --install`: `runtime` (the two programs, what
# the .deb ships: cmake/HostsweepPackage.cmake) and `development` (the library, its headers and
# CMake package, for embedders).
install(TARGETS hostsweep EXPORT hostsweepTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS hostsweep_cli hostsweep_fake_agent RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/hostsweep DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT development)

set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/hostsweep)
install(EXPORT hostsweepTargets NAMESPACE hostsweep:: DESTINATION ${config_dir} COMPONENT development)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/hostsweepConfig.cmake.in
  ${PROJECT_BINARY_DIR}/hostsweepConfig.cmake INSTALL_DESTINATION ${config_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/hostsweepConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/hostsweepConfig.cmake ${PROJECT_BINARY_DIR}/hostsweepConfigVersion.cmake
  DESTINATION ${config_dir} COMPONENT development)
