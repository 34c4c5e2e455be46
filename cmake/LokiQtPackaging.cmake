# Debian packages, made by CPack from the two install components of src/CMakeLists.txt:
#   lokiqt      (LokiQt_Runtime)      the shared library: liblokiqt.so.<SOVERSION> and liblokiqt.so.<VERSION>
#   lokiqt-dev  (LokiQt_Development)  headers, the liblokiqt.so link, the CMake package files and lokiqt.pc
# Packages only make sense for a shared library, so they are configured only in a shared build.
# scripts/package.sh configures one (Release, installed under /usr, the library alone) and runs cpack; the
# debian_packages tests check what it makes.
if(NOT BUILD_SHARED_LIBS)
    message(STATUS "lokiqt: no CPack packages in a static build (scripts/package.sh makes them from a shared one)")
    return()
endif()
if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    # GNUInstallDirs picks Debian's multiarch library folder (lib/x86_64-linux-gnu) only for the /usr prefix.
    message(STATUS "lokiqt: the CPack packages install under /usr, into /usr/${CMAKE_INSTALL_LIBDIR} with this "
                   "CMAKE_INSTALL_PREFIX; -DCMAKE_INSTALL_PREFIX=/usr (scripts/package.sh) uses the multiarch folder")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME lokiqt)
set(CPACK_PACKAGE_VENDOR "lokiqt")
# The Maintainer field. A placeholder until the project has a contact address to publish.
set(LOKIQT_PACKAGE_MAINTAINER "lokiqt maintainers <maintainers@lokiqt.invalid>"
    CACHE STRING "Maintainer of the Debian packages: Name <address>")
set(CPACK_PACKAGE_CONTACT "${LOKIQT_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
# Empty: CPack would put the summary before each package's own first line (its Debian synopsis), which the
# descriptions below hold.
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
# Only the library's two components: an install rule without one (the tools) never goes into a package.
set(CPACK_COMPONENTS_ALL LokiQt_Runtime LokiQt_Development)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # lokiqt_0.1.0_amd64.deb, lokiqt-dev_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_LOKIQT_RUNTIME_PACKAGE_NAME lokiqt)
set(CPACK_DEBIAN_LOKIQT_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_LOKIQT_RUNTIME_DESCRIPTION "Qt 6 library that ships application logs to Grafana Loki
lokiqt sends the logs of a Qt 6 application to Grafana Loki: its LokiClient
batches, compresses and pushes entries from a thread of its own, and its
message handler sends qDebug(), qWarning() and the others through it.
.
This package holds the shared library.")
# dpkg-shlibdeps (dpkg-dev) finds the runtime dependencies (Qt Core and Network, snappy, zlib, libstdc++).
set(CPACK_DEBIAN_LOKIQT_RUNTIME_PACKAGE_SHLIBDEPS ON)
# A shlibs file, so that packages built against lokiqt depend on it through their own dpkg-shlibdeps. Policy
# "=" (an exact version): before 1.0 a minor version may break the ABI while the SOVERSION stays 0.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY "=")
# ldconfig through dpkg's trigger, as Debian's library packages do (lintian: lacks-ldconfig-trigger). CPack's
# postinst and postrm still call ldconfig too; running it twice does no harm.
set(CPACK_DEBIAN_LOKIQT_RUNTIME_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_LIST_DIR}/debian/triggers)

set(CPACK_DEBIAN_LOKIQT_DEVELOPMENT_PACKAGE_NAME lokiqt-dev)
set(CPACK_DEBIAN_LOKIQT_DEVELOPMENT_PACKAGE_SECTION libdevel)
# The headers include Qt's, and LokiQtConfig.cmake and lokiqt.pc require Qt6 Core and Network.
set(CPACK_DEBIAN_LOKIQT_DEVELOPMENT_PACKAGE_DEPENDS "lokiqt (= ${PROJECT_VERSION}), qt6-base-dev")
set(CPACK_DEBIAN_LOKIQT_DEVELOPMENT_DESCRIPTION "Qt 6 library that ships application logs to Grafana Loki - development files
lokiqt sends the logs of a Qt 6 application to Grafana Loki: its LokiClient
batches, compresses and pushes entries from a thread of its own, and its
message handler sends qDebug(), qWarning() and the others through it.
.
This package holds the headers and what builds against lokiqt: a CMake
package (find_package(LokiQt), target LokiQt::LokiQt) and a pkg-config file
(lokiqt.pc; qmake: CONFIG += link_pkgconfig, PKGCONFIG += lokiqt).")

include(CPack)
