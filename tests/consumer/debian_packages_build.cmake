# Run by ctest as debian_packages_build: cmake -DPARAMS=<file> -DWORK_DIR=<dir> -P debian_packages_build.cmake
# Runs scripts/package.sh, the documented way to make the Debian packages, with its build folder in
# <dir>/build and the packages in <dir>/debs.
cmake_minimum_required(VERSION 3.19)

include(${PARAMS})
# Start from nothing: an old build or package can never make the tests pass.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

set(ENV{LOKIQT_PACKAGE_BUILD_DIR} ${WORK_DIR}/build)
set(ENV{LOKIQT_PACKAGE_DIR} ${WORK_DIR}/debs)
if(LOKIQT_WERROR)
    set(ENV{LOKIQT_WERROR} ON)
else()
    set(ENV{LOKIQT_WERROR} OFF)
endif()
if("$ENV{CMAKE_BUILD_PARALLEL_LEVEL}" STREQUAL "")
    cmake_host_system_information(RESULT cores QUERY NUMBER_OF_LOGICAL_CORES)
    set(ENV{CMAKE_BUILD_PARALLEL_LEVEL} ${cores})
endif()
message(STATUS "debian_packages_build: ${BASH} ${LOKIQT_SOURCE_DIR}/scripts/package.sh")
execute_process(COMMAND ${BASH} ${LOKIQT_SOURCE_DIR}/scripts/package.sh RESULT_VARIABLE result)
if(NOT result EQUAL 0)
    message(FATAL_ERROR "debian_packages_build: scripts/package.sh failed (${result})")
endif()
