# Debian packages, made by CPack from the two install components of src/CMakeLists.txt, named by Debian's
# library convention after the SONAME (the ABI policy: top-level CMakeLists.txt, README.md "ABI and versions"):
#   liblokiqt0.1   (LokiQt_Runtime)      the shared library: liblokiqt.so.<SOVERSION> and liblokiqt.so.<VERSION>
#   liblokiqt-dev  (LokiQt_Development)  headers, the liblokiqt.so link, the CMake package files and lokiqt.pc
# Each has /usr/share/doc/<package>/copyright (machine-readable, made from LICENSE) and changelog.gz (from
# debian/changelog). Packages only make sense for a shared library, so they are configured only in a shared
# build. scripts/package.sh configures one (Release, installed under /usr, the library alone) and runs cpack;
# the debian_packages tests check what it makes, debian_lintian runs lintian on it.
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
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # liblokiqt0.1_0.1.0_amd64.deb, liblokiqt-dev_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# liblokiqt.so.0.1 -> liblokiqt0.1 (a SONAME ending in a digit after the name would get a hyphen: libfoo2-0.1).
string(TOLOWER "liblokiqt${LOKIQT_SOVERSION}" LOKIQT_RUNTIME_PACKAGE)
set(LOKIQT_DEV_PACKAGE liblokiqt-dev)
set(CPACK_DEBIAN_LOKIQT_RUNTIME_PACKAGE_NAME ${LOKIQT_RUNTIME_PACKAGE})
set(CPACK_DEBIAN_LOKIQT_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_LOKIQT_RUNTIME_DESCRIPTION "Qt 6 library that ships application logs to Grafana Loki
lokiqt sends the logs of a Qt 6 application to Grafana Loki: its LokiClient
batches, compresses and pushes entries from a thread of its own, and its
message handler sends qDebug(), qWarning() and the others through it.
.
This package holds the shared library.")
# dpkg-shlibdeps (dpkg-dev) finds the runtime dependencies (Qt Core and Network, snappy, zlib, libstdc++).
set(CPACK_DEBIAN_LOKIQT_RUNTIME_PACKAGE_SHLIBDEPS ON)
# A shlibs file, so that packages built against lokiqt depend on it through their own dpkg-shlibdeps:
# "liblokiqt 0.1 liblokiqt0.1 (>= 0.1.0)". ">=" the version built: the SONAME changes with every version that
# changes the ABI, so a later release of the same runtime package (0.1.1) keeps what was built against 0.1.0
# working, and one built against 0.1.1 (which may add a function) asks for 0.1.1 at least.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
# ldconfig through dpkg's trigger, as Debian's library packages do (lintian: lacks-ldconfig-trigger). CPack also
# writes a postinst and a postrm that run ldconfig, for any library under /usr/lib, unless the package brings
# its own (an empty one is lintian's maintainer-script-empty): scripts/package.sh takes them out of the package
# (lintian: maintscript-calls-ldconfig).
set(CPACK_DEBIAN_LOKIQT_RUNTIME_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_LIST_DIR}/debian/triggers)

set(CPACK_DEBIAN_LOKIQT_DEVELOPMENT_PACKAGE_NAME ${LOKIQT_DEV_PACKAGE})
set(CPACK_DEBIAN_LOKIQT_DEVELOPMENT_PACKAGE_SECTION libdevel)
# The headers include Qt's, and LokiQtConfig.cmake and lokiqt.pc require Qt6 Core and Network.
# The exact runtime version: the headers and the liblokiqt.so link are those of that very library.
set(CPACK_DEBIAN_LOKIQT_DEVELOPMENT_PACKAGE_DEPENDS "${LOKIQT_RUNTIME_PACKAGE} (= ${PROJECT_VERSION}), qt6-base-dev")
set(CPACK_DEBIAN_LOKIQT_DEVELOPMENT_DESCRIPTION "Qt 6 library that ships application logs to Grafana Loki - development files
lokiqt sends the logs of a Qt 6 application to Grafana Loki: its LokiClient
batches, compresses and pushes entries from a thread of its own, and its
message handler sends qDebug(), qWarning() and the others through it.
.
This package holds the headers and what builds against lokiqt: a CMake
package (find_package(LokiQt), target LokiQt::LokiQt) and a pkg-config file
(lokiqt.pc; qmake: CONFIG += link_pkgconfig, PKGCONFIG += lokiqt).")

# /usr/share/doc/<package>/copyright in Debian's machine-readable format (DEP-5), with LICENSE's notice and
# text, and changelog.gz (a native package's name for it), compressed without a time stamp (gzip -n), in both
# packages: Debian wants them in each.
file(READ ${PROJECT_SOURCE_DIR}/LICENSE _lokiqt_license)
if(NOT _lokiqt_license MATCHES "\nCopyright \\(c\\) ([^\n]+)\n\n(Permission is hereby granted.*)$")
    message(FATAL_ERROR "LICENSE is not the MIT license text with one 'Copyright (c) ...' line")
endif()
set(LOKIQT_COPYRIGHT_HOLDER "${CMAKE_MATCH_1}")
string(STRIP "${CMAKE_MATCH_2}" _lokiqt_license_text)
# DEP-5 text: every line indented by a space, an empty line as " .".
string(REGEX REPLACE "\n\n" "\n.\n" _lokiqt_license_text "${_lokiqt_license_text}")
string(REGEX REPLACE "\n" "\n " LOKIQT_LICENSE_TEXT " ${_lokiqt_license_text}")
set(_lokiqt_debian_doc ${PROJECT_BINARY_DIR}/debian-doc)
configure_file(${CMAKE_CURRENT_LIST_DIR}/debian/copyright.in ${_lokiqt_debian_doc}/copyright @ONLY)
file(STRINGS ${CMAKE_CURRENT_LIST_DIR}/debian/changelog _lokiqt_changelog_top LIMIT_COUNT 1)
if(NOT _lokiqt_changelog_top MATCHES "^lokiqt \\(${PROJECT_VERSION}\\) ")
    message(WARNING "cmake/debian/changelog starts with '${_lokiqt_changelog_top}', not an entry for "
                    "${PROJECT_VERSION}: add one for this version (the debian_packages test fails without it)")
endif()
find_program(LOKIQT_GZIP gzip)
if(LOKIQT_GZIP)
    execute_process(COMMAND ${LOKIQT_GZIP} -9nc INPUT_FILE ${CMAKE_CURRENT_LIST_DIR}/debian/changelog
        OUTPUT_FILE ${_lokiqt_debian_doc}/changelog.gz RESULT_VARIABLE _lokiqt_gzip_result)
    # Made again when the changelog changes.
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/debian/changelog)
endif()
if(NOT LOKIQT_GZIP OR NOT _lokiqt_gzip_result EQUAL 0)
    message(WARNING "lokiqt: gzip did not compress cmake/debian/changelog: the Debian packages lack a changelog")
endif()
foreach(_lokiqt_component_package
        LokiQt_Runtime:${LOKIQT_RUNTIME_PACKAGE} LokiQt_Development:${LOKIQT_DEV_PACKAGE})
    string(REPLACE ":" ";" _lokiqt_component_package "${_lokiqt_component_package}")
    list(GET _lokiqt_component_package 0 _lokiqt_component)
    list(GET _lokiqt_component_package 1 _lokiqt_package)
    install(FILES ${_lokiqt_debian_doc}/copyright ${_lokiqt_debian_doc}/changelog.gz
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${_lokiqt_package}
        COMPONENT ${_lokiqt_component})
endforeach()

include(CPack)
