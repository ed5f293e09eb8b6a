# The Debian package for operators: `cmake --build --preset release --target package` makes
# hostsweep_<version>_<arch>.deb in the build directory. It holds the `runtime` component (the
# two programs, /usr/bin) and the `service` component below (the unit and the config file);
# the library, headers and CMake package (`development`) are for embedders and stay out of it.
# `cmake --install` is unchanged: `service` is EXCLUDE_FROM_ALL, so it installs everything but
# the unit and /etc (absolute paths that have no place under a --prefix).

set(HOSTSWEEP_PACKAGE_MAINTAINER "hostsweep maintainers <maintainers@users.noreply.r-seed-6721e449.example>"
  CACHE STRING "Maintainer: field of the .deb")

install(FILES ${PROJECT_SOURCE_DIR}/packaging/hostsweep.service
  DESTINATION /lib/systemd/system COMPONENT service EXCLUDE_FROM_ALL)
# The package's config: every setting commented out at its default (a conffile: dpkg keeps the
# operator's edits on upgrade). packaging/hostsweep.toml is the filled-in example.
install(FILES ${PROJECT_SOURCE_DIR}/packaging/deb/hostsweep.toml
  DESTINATION /etc/hostsweep COMPONENT service EXCLUDE_FROM_ALL)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME hostsweep)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "hostsweep")
set(CPACK_PACKAGE_CONTACT "${HOSTSWEEP_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)

# One package of the two operator components.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL runtime service)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # hostsweep_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${HOSTSWEEP_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
# The extended description (CPack indents it and writes the empty line as " ."); the
# synopsis is the summary above.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "hostsweep runs one container per session of an AI agent (a directory with two
SQLite files and a heartbeat), hands it work, notices containers that died or
got stuck, retries their work with exponential backoff and fails hopeless
work, without losing a message or running two containers for one session.

This package holds the daemon (hostsweep run, a Type=notify systemd unit,
not enabled on install), its command-line tools, and hostsweep-fake-agent, a
fake container for testing agent integrations. Runtimes: the plain process,
bubblewrap, Docker or Podman.")
# Depends: from the binaries' shared libraries (dpkg-shlibdeps), plus what the maintainer
# scripts use: adduser (postinst).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
# The sandboxing runtime that needs no daemon; docker or podman are the operator's choice.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "bubblewrap")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "docker.io | podman")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/deb/postinst
  ${PROJECT_SOURCE_DIR}/packaging/deb/prerm
  ${PROJECT_SOURCE_DIR}/packaging/deb/postrm
  ${PROJECT_SOURCE_DIR}/packaging/deb/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
