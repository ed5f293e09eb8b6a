include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Two components, both installed by a plain `cmake --install`: `runtime` (the two programs, what
# the .deb ships: cmake/HostsweepPackage.cmake) and `development` (the library, its headers and
# CMake package, for embedders).
install(TARGETS hostsweep hostsweep_testing EXPORT hostsweepTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS hostsweep_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
# The fake agent is exported too, as hostsweep::fake_agent, so that an embedder's tests find it
# by target ($<TARGET_FILE:hostsweep::fake_agent>), not by path. Its export set is its own: the
# program is the runtime component's, and the package config imports it only when it was
# installed (the targets file of a development-only install would name a missing file).
set_target_properties(hostsweep_fake_agent PROPERTIES EXPORT_NAME fake_agent)
install(TARGETS hostsweep_fake_agent EXPORT hostsweepFakeAgentTargets
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/hostsweep DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT development)

set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/hostsweep)
install(EXPORT hostsweepTargets NAMESPACE hostsweep:: DESTINATION ${config_dir} COMPONENT development)
install(EXPORT hostsweepFakeAgentTargets NAMESPACE hostsweep:: DESTINATION ${config_dir} COMPONENT development)
get_target_property(fake_agent_name hostsweep_fake_agent OUTPUT_NAME)
set(HOSTSWEEP_FAKE_AGENT_FILE ${CMAKE_INSTALL_BINDIR}/${fake_agent_name})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/hostsweepConfig.cmake.in
  ${PROJECT_BINARY_DIR}/hostsweepConfig.cmake INSTALL_DESTINATION ${config_dir}
  PATH_VARS HOSTSWEEP_FAKE_AGENT_FILE)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/hostsweepConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/hostsweepConfig.cmake ${PROJECT_BINARY_DIR}/hostsweepConfigVersion.cmake
  DESTINATION ${config_dir} COMPONENT development)
