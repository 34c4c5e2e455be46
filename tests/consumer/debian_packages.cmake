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
string(REGEX MATCH "^[0-9]+" soversion "${version}")

# Exactly the two packages, named as Debian names them.
file(GLOB debs ${WORK_DIR}/debs/*.deb)
set(runtime_deb ${WORK_DIR}/debs/lokiqt_${version}_${arch}.deb)
set(dev_deb ${WORK_DIR}/debs/lokiqt-dev_${version}_${arch}.deb)
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
check_field(${runtime_deb} Package "^lokiqt$")
check_field(${runtime_deb} Section "^libs$")
# Found by dpkg-shlibdeps from the library's DT_NEEDED entries (Ubuntu 24.04 names Qt's libqt6core6t64).
foreach(dependency libqt6core6 libqt6network6 libsnappy1v5 zlib1g libstdc\\+\\+6 libc6)
    check_field(${runtime_deb} Depends "(^|, )${dependency}(t64)?( \\(|,|$)")
endforeach()
check_field(${dev_deb} Package "^lokiqt-dev$")
check_field(${dev_deb} Section "^libdevel$")
string(REPLACE "." "\\." version_regex "${version}")
check_field(${dev_deb} Depends "(^|, )lokiqt \\(= ${version_regex}\\)(,|$)")
check_field(${dev_deb} Depends "(^|, )qt6-base-dev(,|$)")
# The shlibs file: what packages built against lokiqt depend on (an exact version before 1.0).
dpkg_deb(shlibs --info ${runtime_deb} shlibs)
message(STATUS "${name}: lokiqt's shlibs: ${shlibs}")
if(NOT shlibs MATCHES "^liblokiqt ${soversion} lokiqt \\(= ${version_regex}\\)$")
    fail("lokiqt's shlibs file is '${shlibs}', not 'liblokiqt ${soversion} lokiqt (= ${version})'")
endif()

# ldconfig through dpkg's trigger.
dpkg_deb(triggers --info ${runtime_deb} triggers)
if(NOT triggers STREQUAL "activate-noawait ldconfig")
    fail("lokiqt's triggers file is '${triggers}', not 'activate-noawait ldconfig'")
endif()

# --- Contents: each package holds exactly these files and links (folders aside) ---------------------------
set(libdir ./usr/lib)
if(LIBRARY_ARCHITECTURE)
    set(libdir ./usr/lib/${LIBRARY_ARCHITECTURE})
endif()
set(expected_runtime
    "${libdir}/liblokiqt.so.${version}"
    "${libdir}/liblokiqt.so.${soversion} -> liblokiqt.so.${version}")
set(expected_dev
    "${libdir}/liblokiqt.so -> liblokiqt.so.${soversion}"
    "${libdir}/pkgconfig/lokiqt.pc"
    "${libdir}/cmake/LokiQt/LokiQtConfig.cmake"
    "${libdir}/cmake/LokiQt/LokiQtConfigVersion.cmake"
    "${libdir}/cmake/LokiQt/LokiQtTargets.cmake"
    "${libdir}/cmake/LokiQt/LokiQtTargets-release.cmake"
    "./usr/include/lokiqt/lokiqt_export.h")
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
    if(NOT headers MATCHES "SONAME +liblokiqt\\.so\\.${soversion}\n")
        fail("liblokiqt.so.${version} has no SONAME liblokiqt.so.${soversion}")
    endif()
endif()

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
