# Run by ctest as subproject_consumer and fetchcontent_consumer:
#   cmake -DPARAMS=<file> -DCONFIG=<config> -DKIND=subproject|fetchcontent -DCONSUMER_WORK_DIR=<dir>
#         -P subproject_consumer.cmake
# Builds lokiqt inside a parent project's build: ../subproject_consumer (add_subdirectory) or
# ../fetchcontent_consumer (FetchContent, from a tarball of the source tree made here: no network, and it holds
# the tree under test as it is, committed or not, which a file:// git URL of the checkout would not). The parent
# checks at configure time that lokiqt left its settings alone and defined only its library
# (subproject_checks.cmake). Configured twice: without a build type (the cache entry must stay empty: lokiqt
# chooses its own default only as the top-level project) and with the parent's own (Debug on a single-config
# generator: it must stay). Then built, and its app (linked to LokiQt::LokiQt) run.
cmake_minimum_required(VERSION 3.19)

include(${PARAMS})
set(name ${KIND}_consumer)

function(run_step step)
    message(STATUS "${name}: ${step}: ${ARGN}")
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "${name}: ${step} failed (${result})")
    endif()
endfunction()

function(cached_build_type out)
    file(STRINGS ${build}/CMakeCache.txt line REGEX "^CMAKE_BUILD_TYPE:")
    string(REGEX REPLACE "^CMAKE_BUILD_TYPE:[A-Z]+=" "" value "${line}")
    set(${out} "${value}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${CONSUMER_WORK_DIR})
file(MAKE_DIRECTORY ${CONSUMER_WORK_DIR})
set(build ${CONSUMER_WORK_DIR}/build)

set(configure_args -B ${build} -G ${CONSUMER_GENERATOR} "-DCMAKE_CXX_COMPILER=${CONSUMER_CXX_COMPILER}"
    -DLOKIQT_WARNINGS_AS_ERRORS=${LOKIQT_WERROR})
if(KIND STREQUAL "subproject")
    list(APPEND configure_args -S ${LOKIQT_SOURCE_DIR}/tests/subproject_consumer
        "-DLOKIQT_SOURCE_DIR=${LOKIQT_SOURCE_DIR}")
elseif(KIND STREQUAL "fetchcontent")
    # The source tree without build folders (any top-level folder with a CMakeCache.txt, or named build*) and
    # without hidden entries (.git, .ci).
    file(GLOB entries RELATIVE ${LOKIQT_SOURCE_DIR} ${LOKIQT_SOURCE_DIR}/*)
    set(sources "")
    foreach(entry IN LISTS entries)
        if(entry MATCHES "^(\\.|build|_install)" OR EXISTS ${LOKIQT_SOURCE_DIR}/${entry}/CMakeCache.txt)
            continue()
        endif()
        list(APPEND sources ${entry})
    endforeach()
    if(NOT "CMakeLists.txt" IN_LIST sources OR NOT "src" IN_LIST sources)
        message(FATAL_ERROR "${name}: ${LOKIQT_SOURCE_DIR} does not look like lokiqt's source tree: ${sources}")
    endif()
    set(tarball ${CONSUMER_WORK_DIR}/lokiqt-source.tar.gz)
    message(STATUS "${name}: ${tarball} of ${LOKIQT_SOURCE_DIR}: ${sources}")
    execute_process(COMMAND ${CMAKE_COMMAND} -E tar czf ${tarball} -- ${sources}
        WORKING_DIRECTORY ${LOKIQT_SOURCE_DIR} RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "${name}: making ${tarball} failed (${result})")
    endif()
    file(SHA256 ${tarball} sha256)
    list(APPEND configure_args -S ${LOKIQT_SOURCE_DIR}/tests/fetchcontent_consumer
        "-DLOKIQT_TARBALL=${tarball}" "-DLOKIQT_TARBALL_SHA256=${sha256}"
        # Only this tarball: never a lokiqt source folder given to FetchContent from outside the test.
        -DFETCHCONTENT_SOURCE_DIR_LOKIQT= -DFETCHCONTENT_FULLY_DISCONNECTED=OFF)
else()
    message(FATAL_ERROR "subproject_consumer: KIND must be subproject or fetchcontent, not '${KIND}'")
endif()
if(CONSUMER_CXX_COMPILER_LAUNCHER)
    list(APPEND configure_args "-DCMAKE_CXX_COMPILER_LAUNCHER=${CONSUMER_CXX_COMPILER_LAUNCHER}")
endif()
include(${CMAKE_CURRENT_LIST_DIR}/consumer_helpers.cmake)
consumer_generator_args(configure_args)
# CMake's environment default of the build type (3.22+) would hide what lokiqt does with an empty one.
unset(ENV{CMAKE_BUILD_TYPE})

# 1. No build type: the parent leaves it to its user. lokiqt must not fill in its own default.
run_step(configure ${CMAKE_COMMAND} ${configure_args})
cached_build_type(build_type)
if(NOT build_type STREQUAL "")
    message(FATAL_ERROR "${name}: the parent was configured without a build type, but its cache now says "
                        "CMAKE_BUILD_TYPE=${build_type}: lokiqt forced its own default into the parent's cache")
endif()
if(EXISTS ${build}/CPackConfig.cmake)
    message(FATAL_ERROR "${name}: lokiqt set up CPack (${build}/CPackConfig.cmake) in the parent's build")
endif()

# 2. The parent's own build type (single-config generators): it stays, and lokiqt is built with it.
set(config ${CONFIG})
if(NOT CONSUMER_MULTI_CONFIG)
    set(config Debug)
    run_step(configure ${CMAKE_COMMAND} ${configure_args} -DCMAKE_BUILD_TYPE=${config})
    cached_build_type(build_type)
    if(NOT build_type STREQUAL config)
        message(FATAL_ERROR "${name}: configured with CMAKE_BUILD_TYPE=${config}, the cache says '${build_type}'")
    endif()
endif()

set(build_args "")
if(config)
    set(build_args --config ${config})
endif()
if("$ENV{CMAKE_BUILD_PARALLEL_LEVEL}" STREQUAL "")
    cmake_host_system_information(RESULT cores QUERY NUMBER_OF_LOGICAL_CORES)
    list(APPEND build_args --parallel ${cores})
endif()
run_step(build ${CMAKE_COMMAND} --build ${build} ${build_args})

consumer_find_app(app ${name} ${build} "${config}")
run_step(run ${app})
message(STATUS "${name}: passed")
