# Run by ctest as debian_abi and shared_abi:
#   cmake -DPARAMS=<file> -DPREFIX=<prefix with a shared lokiqt installed> -DWORK_DIR=<dir> -P check_abi.cmake
# The ABI policy (README.md, "ABI and versions"): before 1.0 the ABI may change with every minor version, so the
# SONAME is liblokiqt.so.MAJOR.MINOR and find_package(LokiQt X.Y) accepts only the same MAJOR.MINOR; from 1.0
# the SONAME is liblokiqt.so.MAJOR and find_package accepts the same MAJOR. Checks the installed library's
# SONAME (readelf -d) and links, then asks find_package for versions it must accept and must refuse.
cmake_minimum_required(VERSION 3.19)

include(${PARAMS})
set(name abi)

if(NOT LOKIQT_VERSION MATCHES "^([0-9]+)\\.([0-9]+)\\.([0-9]+)$")
    message(FATAL_ERROR "${name}: the project version '${LOKIQT_VERSION}' is not MAJOR.MINOR.PATCH")
endif()
set(major ${CMAKE_MATCH_1})
set(minor ${CMAKE_MATCH_2})
set(patch ${CMAKE_MATCH_3})
math(EXPR next_minor "${minor} + 1")
math(EXPR next_major "${major} + 1")
math(EXPR next_patch "${patch} + 1")
if(major EQUAL 0)
    set(soversion ${major}.${minor})
    # The same minor version, at most the installed patch; nothing of another minor or major version.
    set(accept ${major}.${minor} ${LOKIQT_VERSION} ${major}.${minor}.0)
    set(refuse ${major}.${next_minor} ${major}.${next_minor}.0 ${next_major}.0 ${major}.${minor}.${next_patch})
    if(minor GREATER 0)
        math(EXPR previous_minor "${minor} - 1")
        list(APPEND refuse ${major}.${previous_minor})
    endif()
else()
    set(soversion ${major})
    set(accept ${major} ${major}.0 ${major}.${minor} ${LOKIQT_VERSION})
    set(refuse ${next_major}.0 ${major}.${next_minor} ${major}.${minor}.${next_patch})
    if(major GREATER 1)
        math(EXPR previous_major "${major} - 1")
        list(APPEND refuse ${previous_major}.0)
    endif()
endif()

list(REMOVE_DUPLICATES accept)

# --- The library: liblokiqt.so.<VERSION>, SONAME liblokiqt.so.<SOVERSION>, and the links to it ---------------
include(${CMAKE_CURRENT_LIST_DIR}/consumer_helpers.cmake)
consumer_find_one(library ${name} liblokiqt.so.${LOKIQT_VERSION} ${PREFIX} "*liblokiqt.so.${LOKIQT_VERSION}")
get_filename_component(libdir ${library} DIRECTORY)
if(READELF)
    execute_process(COMMAND ${READELF} -d ${library} RESULT_VARIABLE result OUTPUT_VARIABLE dynamic)
    string(REGEX MATCH "\\(SONAME\\)[^\n]*\\[([^]\n]+)\\]" _ "${dynamic}")
elseif(OBJDUMP)
    execute_process(COMMAND ${OBJDUMP} -p ${library} RESULT_VARIABLE result OUTPUT_VARIABLE dynamic)
    string(REGEX MATCH "\n +SONAME +([^\n ]+)" _ "${dynamic}")
else()
    message(FATAL_ERROR "${name}: neither readelf nor objdump was found when lokiqt was configured (binutils)")
endif()
set(soname "${CMAKE_MATCH_1}")
message(STATUS "${name}: ${library}: SONAME ${soname}; project version ${LOKIQT_VERSION}")
if(NOT result EQUAL 0 OR NOT soname STREQUAL "liblokiqt.so.${soversion}")
    message(FATAL_ERROR "${name}: the SONAME of ${library} is '${soname}', but version ${LOKIQT_VERSION} under the "
                        "ABI policy needs liblokiqt.so.${soversion}")
endif()
foreach(link liblokiqt.so.${soversion} liblokiqt.so)
    file(REAL_PATH ${libdir}/${link} target)
    if(NOT IS_SYMLINK ${libdir}/${link} OR NOT target STREQUAL library)
        message(FATAL_ERROR "${name}: ${libdir}/${link} is not a link to ${library}")
    endif()
endforeach()

# --- find_package(LokiQt <version>): the CMake version file agrees with the SONAME ---------------------------
consumer_find_one(configs ${name} LokiQtConfigVersion.cmake ${PREFIX} "*/LokiQtConfigVersion.cmake")
get_filename_component(config_dir ${configs} DIRECTORY)
# Lists through execute_process as one argument each.
string(REPLACE ";" "|" accept_arg "${accept}")
string(REPLACE ";" "|" refuse_arg "${refuse}")
set(project ${WORK_DIR}/project)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${project})
file(WRITE ${project}/CMakeLists.txt [[
cmake_minimum_required(VERSION 3.19)
project(lokiqt_abi_check LANGUAGES CXX)
set(failures "")
string(REPLACE "|" ";" accept "${ACCEPT}")
string(REPLACE "|" ";" refuse "${REFUSE}")
foreach(kind accept refuse)
    foreach(request IN LISTS ${kind})
        # Only the package under test: its folder, nothing else on the machine.
        set(LokiQt_DIR ${LOKIQT_CONFIG_DIR} CACHE PATH "" FORCE)
        find_package(LokiQt ${request} CONFIG QUIET NO_DEFAULT_PATH)
        message(STATUS "abi: find_package(LokiQt ${request}): found: ${LokiQt_FOUND} "
                       "(considered: ${LokiQt_CONSIDERED_VERSIONS})")
        if(kind STREQUAL "accept" AND NOT (LokiQt_FOUND AND LokiQt_VERSION STREQUAL VERSION))
            list(APPEND failures "find_package(LokiQt ${request}) did not find ${VERSION}")
        elseif(kind STREQUAL "refuse" AND LokiQt_FOUND)
            list(APPEND failures "find_package(LokiQt ${request}) accepted ${LokiQt_VERSION}: its ABI is not that")
        endif()
    endforeach()
endforeach()
# The package must have been there to refuse: LokiQt_CONSIDERED_VERSIONS lists what find_package saw.
if(NOT VERSION IN_LIST LokiQt_CONSIDERED_VERSIONS)
    list(APPEND failures
        "find_package never saw LokiQt ${VERSION} in ${LOKIQT_CONFIG_DIR} (saw: ${LokiQt_CONSIDERED_VERSIONS})")
endif()
if(failures)
    string(REPLACE ";" "\n  " failures "${failures}")
    message(FATAL_ERROR "abi: the CMake version file and the SONAME disagree:\n  ${failures}")
endif()
]])
set(configure_args -S ${project} -B ${WORK_DIR}/build -G ${CONSUMER_GENERATOR}
    "-DCMAKE_CXX_COMPILER=${CONSUMER_CXX_COMPILER}" "-DLOKIQT_CONFIG_DIR=${config_dir}" "-DVERSION=${LOKIQT_VERSION}"
    "-DACCEPT=${accept_arg}" "-DREFUSE=${refuse_arg}")
consumer_generator_args(configure_args)
execute_process(COMMAND ${CMAKE_COMMAND} ${configure_args} RESULT_VARIABLE result)
if(NOT result EQUAL 0)
    message(FATAL_ERROR "${name}: find_package(LokiQt) answered against the ABI policy (above)")
endif()
message(STATUS "${name}: passed: SONAME liblokiqt.so.${soversion}; find_package accepts ${accept}, refuses ${refuse}")
