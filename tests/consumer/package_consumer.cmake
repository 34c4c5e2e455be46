# Run by ctest as package_consumer and its variants:
#   cmake -DPARAMS=<file> -DCONFIG=<config> -DCONSUMER_WORK_DIR=<dir> (-DLOKIQT_INSTALL_DIR=<dir> | -DPREFIX=<dir>)
#         -P package_consumer.cmake
# Configures, builds and runs the CMake project in project/ against lokiqt in a prefix (see consumer_common.cmake).
# Fails (non-zero exit) when installing, configuring, building or running the consumer fails.
cmake_minimum_required(VERSION 3.19)

include(${PARAMS})
include(${CMAKE_CURRENT_LIST_DIR}/consumer_common.cmake)
set(prefix ${consumer_prefix})
set(build ${consumer_build})

# Configure and build the consumer against it, with the same generator, compiler and Qt.
set(configure_args
    -S ${CONSUMER_SOURCE_DIR} -B ${build}
    -G ${CONSUMER_GENERATOR}
    -DCMAKE_PREFIX_PATH=${prefix}
    "-DCMAKE_CXX_COMPILER=${CONSUMER_CXX_COMPILER}"
    "-DCMAKE_CXX_FLAGS=${CONSUMER_CXX_FLAGS}")
# This build's own CMAKE_PREFIX_PATH (where Qt may be), Qt6_DIR and the generator's settings.
include(${CMAKE_CURRENT_LIST_DIR}/consumer_helpers.cmake)
consumer_generator_args(configure_args)
if(CONFIG AND NOT CONSUMER_MULTI_CONFIG)
    list(APPEND configure_args -DCMAKE_BUILD_TYPE=${CONFIG})
endif()
run_step(configure ${CMAKE_COMMAND} ${configure_args})

# The LokiQt package found must be the one in the prefix, never one installed elsewhere on the machine.
file(STRINGS ${build}/CMakeCache.txt lokiqt_dir_line REGEX "^LokiQt_DIR:")
string(REGEX REPLACE "^LokiQt_DIR:[A-Z]+=" "" lokiqt_dir "${lokiqt_dir_line}")
file(REAL_PATH "${prefix}" real_prefix)
file(REAL_PATH "${lokiqt_dir}" real_lokiqt_dir)
string(FIND "${real_lokiqt_dir}/" "${real_prefix}/" at)
if(NOT at EQUAL 0)
    message(FATAL_ERROR "${consumer_name}: find_package(LokiQt) found ${lokiqt_dir}, not the one in ${prefix}")
endif()

run_step(build ${CMAKE_COMMAND} --build ${build} ${config_args})

# Run it. A shared lokiqt on Windows is found through PATH; elsewhere the build RPATH finds it.
consumer_find_app(app ${consumer_name} ${build} "${CONFIG}")
if(WIN32)
    set(ENV{PATH} "${prefix}/bin;$ENV{PATH}")
endif()
run_step(run ${app})
message(STATUS "${consumer_name}: passed")
