# The Debian package (`cpack -G DEB` in the build folder, or `cmake --build build --target package`):
# vaned and vanectl in /usr/sbin, the systemd unit, the `vane` system user (sysusers.d, created by
# postinst), man pages, bash completion, the example config and the monitoring rules and dashboard.
# The service is installed but neither enabled nor started: it needs /etc/vane/vaned.conf first.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME vane)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
# A Debian revision: the packaging is kept apart from the upstream version (packaging/deb/changelog).
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_PACKAGE_CONTACT "vane maintainers <vane@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "anycast load-steering daemon: BGP, health checks, XDP forwarder")
set(CPACK_PACKAGE_DESCRIPTION
    "vaned announces a service's anycast prefixes over BGP while its health\n\
checks pass, and spreads the traffic a router sends it over the site's\n\
servers with an XDP forwarder (weighted Maglev tables, GUE between the\n\
servers). vanectl queries and steers a running vaned and writes the\n\
router's side of the BGP sessions.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# postinst creates the user with systemd-sysusers where systemd is, else with useradd (passwd).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "bird2 | frr, prometheus")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/deb/postinst ${PROJECT_SOURCE_DIR}/packaging/deb/prerm
    ${PROJECT_SOURCE_DIR}/packaging/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
