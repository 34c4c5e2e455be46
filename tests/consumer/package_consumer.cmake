# Run by ctest as package_consumer: cmake -DPARAMS=<file> -DCONFIG=<config> -P package_consumer.cmake
# Fails (non-zero exit) when installing, configuring, building or running the consumer fails.
cmake_minimum_required(VERSION 3.19)

include(${PARAMS})

set(prefix ${CONSUMER_WORK_DIR}/prefix)
set(build ${CONSUMER_WORK_DIR}/build)
# Start from nothing, so a stale install or build can never make the test pass.
file(REMOVE_RECURSE ${CONSUMER_WORK_DIR})
file(MAKE_DIRECTORY ${CONSUMER_WORK_DIR})

function(run_step name)
    message(STATUS "package_consumer: ${name}: ${ARGN}")
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "package_consumer: ${name} failed (${result})")
    endif()
endfunction()

set(config_args "")
if(CONFIG)
    set(config_args --config ${CONFIG})
endif()

# (a) Install lokiqt's package (the install rules of the lokiqt target's folder) into the scratch prefix.
run_step(install ${CMAKE_COMMAND} --install ${LOKIQT_INSTALL_DIR} --prefix ${prefix} ${config_args})
foreach(file include/lokiqt/lokiclient.h include/lokiqt/lokiqt_export.h)
    if(NOT EXISTS ${prefix}/${file})
        message(FATAL_ERROR "package_consumer: the install did not provide ${file}")
    endif()
endforeach()

# (b) Configure and build the consumer against it, with the same generator, compiler and Qt.
set(configure_args
    -S ${CONSUMER_SOURCE_DIR} -B ${build}
    -G ${CONSUMER_GENERATOR}
    -DCMAKE_PREFIX_PATH=${prefix}
    "-DCMAKE_CXX_COMPILER=${CONSUMER_CXX_COMPILER}"
    "-DCMAKE_CXX_FLAGS=${CONSUMER_CXX_FLAGS}")
# This build's own CMAKE_PREFIX_PATH (where Qt may be) goes through the environment: a list would be split
# into several arguments on the way to execute_process.
if(CONSUMER_PREFIX_PATH)
    if(WIN32)
        set(ENV{CMAKE_PREFIX_PATH} "${CONSUMER_PREFIX_PATH}")
    else()
        string(REPLACE ";" ":" native_prefix_path "${CONSUMER_PREFIX_PATH}")
        set(ENV{CMAKE_PREFIX_PATH} "${native_prefix_path}")
    endif()
endif()
if(CONSUMER_QT6_DIR)
    list(APPEND configure_args "-DQt6_DIR=${CONSUMER_QT6_DIR}")
endif()
if(CONSUMER_GENERATOR_PLATFORM)
    list(APPEND configure_args -A ${CONSUMER_GENERATOR_PLATFORM})
endif()
if(CONSUMER_GENERATOR_TOOLSET)
    list(APPEND configure_args -T ${CONSUMER_GENERATOR_TOOLSET})
endif()
if(CONSUMER_MAKE_PROGRAM)
    list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${CONSUMER_MAKE_PROGRAM}")
endif()
if(CONFIG AND NOT CONSUMER_MULTI_CONFIG)
    list(APPEND configure_args -DCMAKE_BUILD_TYPE=${CONFIG})
endif()
run_step(configure ${CMAKE_COMMAND} ${configure_args})
run_step(build ${CMAKE_COMMAND} --build ${build} ${config_args})

# (c) Run it. A shared lokiqt on Windows is found through PATH; elsewhere the build RPATH finds it.
set(app "")
foreach(candidate ${build}/app ${build}/app.exe ${build}/${CONFIG}/app ${build}/${CONFIG}/app.exe)
    if(EXISTS ${candidate} AND NOT IS_DIRECTORY ${candidate})
        set(app ${candidate})
        break()
    endif()
endforeach()
if(NOT app)
    message(FATAL_ERROR "package_consumer: the consumer's executable was not found under ${build}")
endif()
if(WIN32)
    set(ENV{PATH} "${prefix}/bin;$ENV{PATH}")
endif()
run_step(run ${app})
message(STATUS "package_consumer: passed")
