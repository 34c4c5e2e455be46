# Run by ctest as static_build or shared_build:
#   cmake -DPARAMS=<file> -DCONFIG=<config> -DKIND=shared|static -DWORK_DIR=<dir> -P lokiqt_build.cmake
# Configures, builds and installs the library alone (no tests, tools, examples or benchmarks) as a KIND
# library, with this build's generator, compiler, Qt and warning policy, into <dir>/build and <dir>/prefix.
cmake_minimum_required(VERSION 3.19)

include(${PARAMS})

function(run_step name)
    message(STATUS "${KIND}_build: ${name}: ${ARGN}")
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "${KIND}_build: ${name} failed (${result})")
    endif()
endfunction()

if(KIND STREQUAL "shared")
    set(shared ON)
elseif(KIND STREQUAL "static")
    set(shared OFF)
else()
    message(FATAL_ERROR "lokiqt_build: KIND must be shared or static, not '${KIND}'")
endif()
set(build ${WORK_DIR}/build)
set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})

set(configure_args
    -S ${LOKIQT_SOURCE_DIR} -B ${build}
    -G ${CONSUMER_GENERATOR}
    -DBUILD_SHARED_LIBS=${shared}
    -DLOKIQT_BUILD_TESTS=OFF -DLOKIQT_BUILD_TOOLS=OFF -DLOKIQT_BUILD_EXAMPLES=OFF -DLOKIQT_BUILD_BENCHMARKS=OFF
    -DLOKIQT_BUILD_QML=OFF
    -DLOKIQT_WARNINGS_AS_ERRORS=${LOKIQT_WERROR}
    "-DCMAKE_CXX_COMPILER=${CONSUMER_CXX_COMPILER}")
include(${CMAKE_CURRENT_LIST_DIR}/consumer_helpers.cmake)
consumer_generator_args(configure_args)
set(config_args "")
if(CONFIG)
    set(config_args --config ${CONFIG})
    if(NOT CONSUMER_MULTI_CONFIG)
        list(APPEND configure_args -DCMAKE_BUILD_TYPE=${CONFIG})
    endif()
endif()
# As many jobs as processors, unless CMAKE_BUILD_PARALLEL_LEVEL says otherwise.
set(parallel "")
if("$ENV{CMAKE_BUILD_PARALLEL_LEVEL}" STREQUAL "")
    cmake_host_system_information(RESULT cores QUERY NUMBER_OF_LOGICAL_CORES)
    set(parallel --parallel ${cores})
endif()

run_step(configure ${CMAKE_COMMAND} ${configure_args})
run_step(build ${CMAKE_COMMAND} --build ${build} ${config_args} ${parallel})
run_step(install ${CMAKE_COMMAND} --install ${build} --prefix ${prefix} ${config_args})
message(STATUS "${KIND}_build: a ${KIND} lokiqt is installed in ${prefix}")
