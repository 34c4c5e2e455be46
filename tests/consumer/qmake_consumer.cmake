# Run by ctest as qmake_consumer and its variants:
#   cmake -DPARAMS=<file> -DCONSUMER_WORK_DIR=<dir> (-DLOKIQT_INSTALL_DIR=<dir> | -DPREFIX=<dir>) -P qmake_consumer.cmake
# Builds the qmake project in tests/qmake_consumer, which finds lokiqt through pkg-config only
# (PKGCONFIG += lokiqt), against lokiqt in a prefix (see consumer_common.cmake), with PKG_CONFIG_PATH set to the
# prefix's pkgconfig folder, and runs it. A missing qmake, make or pkg-config fails the test with what to install.
cmake_minimum_required(VERSION 3.19)

include(${PARAMS})

if(NOT QMAKE_EXECUTABLE OR NOT EXISTS "${QMAKE_EXECUTABLE}")
    message(FATAL_ERROR "${CONSUMER_NAME}: qmake for Qt 6 was not found when lokiqt was configured, so the qmake "
                        "consumer cannot be built. Debian/Ubuntu: apt-get install qmake6 (scripts/deps.sh does), "
                        "then configure again.")
endif()
execute_process(COMMAND ${QMAKE_EXECUTABLE} -query QT_VERSION
    RESULT_VARIABLE result OUTPUT_VARIABLE qmake_qt_version OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT result EQUAL 0 OR NOT qmake_qt_version MATCHES "^6\\.")
    message(FATAL_ERROR "${CONSUMER_NAME}: ${QMAKE_EXECUTABLE} is not a working qmake of Qt 6 (its QT_VERSION: "
                        "'${qmake_qt_version}'). Debian/Ubuntu: apt-get install qmake6, then configure again.")
endif()
if(NOT QMAKE_MAKE)
    message(FATAL_ERROR "${CONSUMER_NAME}: make was not found when lokiqt was configured: qmake's Makefiles need "
                        "it. Debian/Ubuntu: apt-get install make (scripts/deps.sh does), then configure again.")
endif()
if(NOT PKG_CONFIG)
    message(FATAL_ERROR "${CONSUMER_NAME}: pkg-config was not found when lokiqt was configured: qmake's "
                        "PKGCONFIG needs it. Debian/Ubuntu: apt-get install pkg-config, then configure again.")
endif()

include(${CMAKE_CURRENT_LIST_DIR}/consumer_common.cmake)
set(prefix ${consumer_prefix})
set(build ${consumer_build})

# The prefix's lokiqt.pc (in <libdir>/pkgconfig: lib, lib64 or lib/<multiarch>) goes first on pkg-config's path.
file(GLOB_RECURSE pc_files LIST_DIRECTORIES false ${prefix}/lokiqt.pc)
list(FILTER pc_files INCLUDE REGEX "/pkgconfig/lokiqt\\.pc$")
list(LENGTH pc_files pc_count)
if(NOT pc_count EQUAL 1)
    message(FATAL_ERROR "${consumer_name}: expected one pkgconfig/lokiqt.pc under ${prefix}, found: ${pc_files}")
endif()
get_filename_component(pc_dir ${pc_files} DIRECTORY)
if(DEFINED ENV{PKG_CONFIG_PATH} AND NOT "$ENV{PKG_CONFIG_PATH}" STREQUAL "")
    set(ENV{PKG_CONFIG_PATH} "${pc_dir}:$ENV{PKG_CONFIG_PATH}")
else()
    set(ENV{PKG_CONFIG_PATH} "${pc_dir}")
endif()
message(STATUS "${consumer_name}: PKG_CONFIG_PATH=$ENV{PKG_CONFIG_PATH}")
file(READ ${pc_files} pc_text)
message(STATUS "${consumer_name}: ${pc_files}:\n${pc_text}")

# pkg-config must resolve lokiqt to this prefix (the file's paths are relative to where it is), never to a
# lokiqt installed elsewhere on the machine.
execute_process(COMMAND ${PKG_CONFIG} --variable=includedir lokiqt
    RESULT_VARIABLE result OUTPUT_VARIABLE includedir OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT result EQUAL 0)
    message(FATAL_ERROR "${consumer_name}: pkg-config does not find lokiqt with PKG_CONFIG_PATH=${pc_dir}")
endif()
file(REAL_PATH "${includedir}" real_includedir)
file(REAL_PATH "${prefix}/include" real_prefix_include)
if(NOT real_includedir STREQUAL real_prefix_include)
    message(FATAL_ERROR "${consumer_name}: pkg-config's lokiqt includedir is ${includedir}, not ${prefix}/include")
endif()
run_step(pkg-config ${PKG_CONFIG} --cflags --libs lokiqt)

# Configure with qmake into a build folder of its own, with this build's compiler and warning policy.
file(MAKE_DIRECTORY ${build})
set(qmake_args ${QMAKE_CONSUMER_SOURCE_DIR}/qmake_consumer.pro
    "QMAKE_CXX=${CONSUMER_CXX_COMPILER}" "QMAKE_LINK=${CONSUMER_CXX_COMPILER}")
if(LOKIQT_WERROR)
    # The installed headers must compile cleanly here too (qmake's warn_on is -Wall -Wextra).
    list(APPEND qmake_args "CONFIG+=warn_on" "QMAKE_CXXFLAGS+=-Werror")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E echo "qmake: ${QMAKE_EXECUTABLE} ${qmake_args}")
execute_process(COMMAND ${QMAKE_EXECUTABLE} ${qmake_args} WORKING_DIRECTORY ${build} RESULT_VARIABLE result)
if(NOT result EQUAL 0)
    message(FATAL_ERROR "${consumer_name}: qmake failed (${result})")
endif()
execute_process(COMMAND ${QMAKE_MAKE} WORKING_DIRECTORY ${build} RESULT_VARIABLE result)
if(NOT result EQUAL 0)
    message(FATAL_ERROR "${consumer_name}: make failed (${result})")
endif()

# Run it. pkg-config gives no run-time path: a shared lokiqt in a scratch prefix is found through the loader's.
set(app ${build}/app)
if(NOT EXISTS ${app})
    message(FATAL_ERROR "${consumer_name}: make did not produce ${app}")
endif()
lokiqt_library_dirs(lib_dirs)
if(lib_dirs)
    string(REPLACE ";" ":" lib_path "${lib_dirs}")
    set(loader_var LD_LIBRARY_PATH)
    if(APPLE)
        set(loader_var DYLD_LIBRARY_PATH)
    endif()
    if(NOT "$ENV{${loader_var}}" STREQUAL "")
        string(APPEND lib_path ":$ENV{${loader_var}}")
    endif()
    set(ENV{${loader_var}} "${lib_path}")
    message(STATUS "${consumer_name}: the shared lokiqt is loaded from ${lib_path}")
endif()
run_step(run ${app})
message(STATUS "${consumer_name}: passed")
