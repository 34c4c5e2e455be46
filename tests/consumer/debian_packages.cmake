# Run by ctest as debian_packages: cmake -DPARAMS=<file> -DWORK_DIR=<dir> -P debian_packages.cmake
# Checks the packages that debian_packages_build made in <dir>/debs (dpkg-deb --field and --contents: each holds
# what it should and nothing else), then unpacks both into the scratch root <dir>/root (dpkg -x), where
# debian_package_consumer, debian_qmake_consumer and debian_exports use them.
cmake_minimum_required(VERSION 3.19)

include(${PARAMS})
set(name debian_packages)
set(failures "")
macro(fail text)
    list(APPEND failures "${text}")
    message(SEND_ERROR "${name}: ${text}")
endmacro()

function(dpkg_deb out)
    execute_process(COMMAND ${DPKG_DEB} ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE errors
        OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "${name}: dpkg-deb ${ARGN} failed (${result}): ${errors}")
    endif()
    set(${out} "${output}" PARENT_SCOPE)
endfunction()

execute_process(COMMAND dpkg --print-architecture OUTPUT_VARIABLE arch OUTPUT_STRIP_TRAILING_WHITESPACE)
set(version ${LOKIQT_VERSION})
# The ABI policy (README.md, "ABI and versions"), worked out here on its own: the SONAME carries MAJOR.MINOR
# before 1.0, MAJOR from then on; the runtime package is named after it (liblokiqt.so.0.1 -> liblokiqt0.1).
string(REGEX MATCH "^([0-9]+)\\.([0-9]+)" _ "${version}")
if(CMAKE_MATCH_1 EQUAL 0)
    set(soversion ${CMAKE_MATCH_1}.${CMAKE_MATCH_2})
else()
    set(soversion ${CMAKE_MATCH_1})
endif()
set(runtime_package liblokiqt${soversion})
set(dev_package liblokiqt-dev)
string(REPLACE "." "\\." version_regex "${version}")
string(REPLACE "." "\\." soversion_regex "${soversion}")

# Exactly the two packages, named as Debian names them.
file(GLOB debs ${WORK_DIR}/debs/*.deb)
set(runtime_deb ${WORK_DIR}/debs/${runtime_package}_${version}_${arch}.deb)
set(dev_deb ${WORK_DIR}/debs/${dev_package}_${version}_${arch}.deb)
list(SORT debs)
set(expected_debs ${dev_deb} ${runtime_deb})
list(SORT expected_debs)
if(NOT debs STREQUAL expected_debs)
    message(FATAL_ERROR "${name}: expected the packages ${expected_debs}, found: ${debs}")
endif()

# --- Control fields -----------------------------------------------------------------------------------------
function(check_field deb field regex)
    dpkg_deb(value --field ${deb} ${field})
    get_filename_component(deb_name ${deb} NAME)
    message(STATUS "${name}: ${deb_name}: ${field}: ${value}")
    if(NOT value MATCHES "${regex}")
        fail("${deb_name}: ${field} is '${value}', which does not match '${regex}'")
    endif()
    set(failures "${failures}" PARENT_SCOPE)
endfunction()
foreach(deb ${runtime_deb} ${dev_deb})
    check_field(${deb} Version "^${version}$")
    check_field(${deb} Architecture "^${arch}$")
    check_field(${deb} Maintainer ".+ <.+@.+>")
    check_field(${deb} Priority "^optional$")
    check_field(${deb} Description "Grafana Loki")
endforeach()
check_field(${runtime_deb} Package "^liblokiqt${soversion_regex}$")
check_field(${runtime_deb} Section "^libs$")
# Found by dpkg-shlibdeps from the library's DT_NEEDED entries (Ubuntu 24.04 names Qt's libqt6core6t64).
foreach(dependency libqt6core6 libqt6network6 libsnappy1v5 zlib1g libstdc\\+\\+6 libc6)
    check_field(${runtime_deb} Depends "(^|, )${dependency}(t64)?( \\(|,|$)")
endforeach()
check_field(${dev_deb} Package "^liblokiqt-dev$")
check_field(${dev_deb} Section "^libdevel$")
# The exact version of the runtime package.
check_field(${dev_deb} Depends "(^|, )liblokiqt${soversion_regex} \\(= ${version_regex}\\)(,|$)")
check_field(${dev_deb} Depends "(^|, )qt6-base-dev(,|$)")
# The shlibs file: what packages built against lokiqt depend on. The SONAME's library name and version, the
# runtime package, and at least the version built (the same runtime package may be upgraded: its SONAME
# changes with the ABI).
dpkg_deb(shlibs --info ${runtime_deb} shlibs)
message(STATUS "${name}: ${runtime_package}'s shlibs: ${shlibs}")
if(NOT shlibs MATCHES "^liblokiqt ${soversion_regex} liblokiqt${soversion_regex} \\(>= ${version_regex}\\)$")
    fail("${runtime_package}'s shlibs file is '${shlibs}', not "
         "'liblokiqt ${soversion} ${runtime_package} (>= ${version})'")
endif()

# ldconfig through dpkg's trigger.
dpkg_deb(triggers --info ${runtime_deb} triggers)
if(NOT triggers STREQUAL "activate-noawait ldconfig")
    fail("${runtime_package}'s triggers file is '${triggers}', not 'activate-noawait ldconfig'")
endif()
# ... and no maintainer scripts: CPack's, which only ran ldconfig, are taken out by scripts/package.sh.
foreach(deb ${runtime_deb} ${dev_deb})
    dpkg_deb(control_files --info ${deb})
    if(control_files MATCHES " (preinst|postinst|prerm|postrm) ")
        fail("${deb} has a maintainer script (${CMAKE_MATCH_1}):\n${control_files}")
    endif()
endforeach()

# --- Contents: each package holds exactly these files and links (folders aside) ---------------------------
set(libdir ./usr/lib)
if(LIBRARY_ARCHITECTURE)
    set(libdir ./usr/lib/${LIBRARY_ARCHITECTURE})
endif()
set(expected_runtime
    "${libdir}/liblokiqt.so.${version}"
    "${libdir}/liblokiqt.so.${soversion} -> liblokiqt.so.${version}"
    "./usr/share/doc/${runtime_package}/copyright"
    "./usr/share/doc/${runtime_package}/changelog.gz")
set(expected_dev
    "${libdir}/liblokiqt.so -> liblokiqt.so.${soversion}"
    "${libdir}/pkgconfig/lokiqt.pc"
    "${libdir}/cmake/LokiQt/LokiQtConfig.cmake"
    "${libdir}/cmake/LokiQt/LokiQtConfigVersion.cmake"
    "${libdir}/cmake/LokiQt/LokiQtTargets.cmake"
    "${libdir}/cmake/LokiQt/LokiQtTargets-release.cmake"
    "./usr/include/lokiqt/lokiqt_export.h"
    "./usr/share/doc/${dev_package}/copyright"
    "./usr/share/doc/${dev_package}/changelog.gz")
file(GLOB public_headers RELATIVE ${LOKIQT_SOURCE_DIR}/include/lokiqt ${LOKIQT_SOURCE_DIR}/include/lokiqt/*.h)
foreach(header ${public_headers})
    list(APPEND expected_dev "./usr/include/lokiqt/${header}")
endforeach()

function(check_contents deb expected)
    get_filename_component(deb_name ${deb} NAME)
    dpkg_deb(listing --contents ${deb})
    message(STATUS "${name}: dpkg-deb --contents ${deb_name}:\n${listing}")
    string(REPLACE "\n" ";" lines "${listing}")
    set(entries "")
    foreach(line ${lines})
        # drwxr-xr-x root/root         0 2024-01-01 00:00 ./usr/  (or: lrwxrwxrwx ... ./a -> b)
        if(NOT line MATCHES "^([-dl])[^ ]+ +[^ ]+ +[0-9]+ +[0-9-]+ +[0-9:]+ +(.+)$")
            fail("${deb_name}: unexpected line in dpkg-deb --contents: ${line}")
            continue()
        endif()
        if(NOT CMAKE_MATCH_1 STREQUAL "d")
            list(APPEND entries "${CMAKE_MATCH_2}")
        endif()
    endforeach()
    set(missing ${expected})
    list(REMOVE_ITEM missing ${entries})
    set(extra ${entries})
    list(REMOVE_ITEM extra ${expected})
    if(missing)
        fail("${deb_name} lacks: ${missing}")
    endif()
    if(extra)
        fail("${deb_name} holds what it should not: ${extra}")
    endif()
    set(failures "${failures}" PARENT_SCOPE)
endfunction()
check_contents(${runtime_deb} "${expected_runtime}")
check_contents(${dev_deb} "${expected_dev}")

# --- Unpack both into a scratch root, as installing them would lay them out under / ------------------------
set(root ${WORK_DIR}/root)
file(REMOVE_RECURSE ${root})
foreach(deb ${runtime_deb} ${dev_deb})
    execute_process(COMMAND ${DPKG_DEB} -x ${deb} ${root} RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "${name}: dpkg-deb -x ${deb} ${root} failed (${result})")
    endif()
endforeach()

# The library's SONAME is the runtime package's link name.
if(OBJDUMP)
    execute_process(COMMAND ${OBJDUMP} -p ${root}/${libdir}/liblokiqt.so.${version} OUTPUT_VARIABLE headers)
    if(NOT headers MATCHES "SONAME +liblokiqt\\.so\\.${soversion_regex}\n")
        fail("liblokiqt.so.${version} has no SONAME liblokiqt.so.${soversion}")
    endif()
endif()

# The copyright files: Debian's machine-readable format, with LICENSE's copyright line and text.
file(READ ${LOKIQT_SOURCE_DIR}/LICENSE license)
if(NOT license MATCHES "\nCopyright \\(c\\) ([^\n]+)\n\n(Permission is hereby granted.*)$")
    message(FATAL_ERROR "${name}: ${LOKIQT_SOURCE_DIR}/LICENSE is not the MIT license with one Copyright (c) line")
endif()
set(holder "${CMAKE_MATCH_1}")
string(STRIP "${CMAKE_MATCH_2}" license_text)
string(REGEX REPLACE "\n\n" "\n.\n" license_text "${license_text}")
string(REGEX REPLACE "\n" "\n " license_text " ${license_text}")
foreach(package ${runtime_package} ${dev_package})
    set(file ${root}/usr/share/doc/${package}/copyright)
    file(READ ${file} copyright)
    foreach(part "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
            "\nFiles: \\*\nCopyright: ${holder}\nLicense: Expat\n")
        if(NOT copyright MATCHES "${part}")
            fail("${file} does not match '${part}'")
        endif()
    endforeach()
    string(FIND "${copyright}" "License: Expat\n${license_text}" at)
    if(at LESS 0)
        fail("${file} does not hold LICENSE's text as a DEP-5 License: Expat paragraph:\n${copyright}")
    endif()
    # The changelog: gzip's, without a time stamp, and its latest entry is this version.
    set(file ${root}/usr/share/doc/${package}/changelog.gz)
    file(READ ${file} gz_header LIMIT 8 HEX)
    if(NOT gz_header MATCHES "^1f8b080000000000")
        fail("${file} is not gzip data without a name and a time stamp (gzip -n): its header is ${gz_header}")
    endif()
    execute_process(COMMAND gzip -dc ${file} RESULT_VARIABLE result OUTPUT_VARIABLE changelog)
    if(NOT result EQUAL 0 OR NOT changelog MATCHES "^lokiqt \\(${version_regex}\\) [a-z-]+; urgency=[a-z]+\n")
        fail("${file} does not start with a Debian changelog entry for ${version}: ${changelog}")
    endif()
endforeach()

# lokiqt.pc of a shared library, relocatable (its prefix follows the file), asking for Qt and nothing static.
file(READ ${root}/${libdir}/pkgconfig/lokiqt.pc pc)
message(STATUS "${name}: lokiqt.pc:\n${pc}")
foreach(regex "\nprefix=\\\${pcfiledir}/" "\nRequires: Qt6Core Qt6Network\n" "\nLibs: -L\\\${libdir} -llokiqt\n"
        "\nCflags: -I\\\${includedir}\n" "\nVersion: ${version_regex}\n")
    if(NOT pc MATCHES "${regex}")
        fail("lokiqt.pc does not match '${regex}'")
    endif()
endforeach()
if(pc MATCHES "STATIC|snappy|zlib")
    fail("lokiqt.pc of the shared library mentions what only a static one needs")
endif()

if(failures)
    list(LENGTH failures count)
    message(FATAL_ERROR "${name}: ${count} check(s) failed")
endif()
message(STATUS "${name}: passed: both packages hold what they should; unpacked into ${root}")
