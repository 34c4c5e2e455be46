# Shared by the consumer scripts: include()d after the PARAMS file.
#   -DCONSUMER_WORK_DIR=<dir>       scratch folder of the test, emptied first
#   -DLOKIQT_INSTALL_DIR=<dir>      a build folder to install lokiqt from into <work dir>/prefix, or
#   -DPREFIX=<dir>                  a prefix lokiqt is already installed in
#   -DCONSUMER_NAME=<name>          the test's name, for messages
# Sets consumer_prefix, consumer_build and config_args; defines run_step().
cmake_minimum_required(VERSION 3.19)

# The test's name, for messages (-DCONSUMER_NAME), else the script's.
if(CONSUMER_NAME)
    set(consumer_name "${CONSUMER_NAME}")
else()
    get_filename_component(consumer_name "${CMAKE_SCRIPT_MODE_FILE}" NAME_WE)
endif()

function(run_step name)
    message(STATUS "${consumer_name}: ${name}: ${ARGN}")
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "${consumer_name}: ${name} failed (${result})")
    endif()
endfunction()

set(config_args "")
if(CONFIG)
    set(config_args --config ${CONFIG})
endif()

if(NOT CONSUMER_WORK_DIR)
    message(FATAL_ERROR "${consumer_name}: CONSUMER_WORK_DIR is not set")
endif()
set(consumer_build ${CONSUMER_WORK_DIR}/build)
# Start from nothing, so a stale install or build can never make the test pass.
file(REMOVE_RECURSE ${CONSUMER_WORK_DIR})
file(MAKE_DIRECTORY ${CONSUMER_WORK_DIR})

if(PREFIX)
    set(consumer_prefix ${PREFIX})
elseif(LOKIQT_INSTALL_DIR)
    # Install lokiqt's package (the install rules of the lokiqt target's folder) into the scratch prefix.
    set(consumer_prefix ${CONSUMER_WORK_DIR}/prefix)
    run_step(install ${CMAKE_COMMAND} --install ${LOKIQT_INSTALL_DIR} --prefix ${consumer_prefix} ${config_args})
else()
    message(FATAL_ERROR "${consumer_name}: neither LOKIQT_INSTALL_DIR nor PREFIX is set")
endif()
foreach(file include/lokiqt/lokiclient.h include/lokiqt/lokiqt_export.h)
    if(NOT EXISTS ${consumer_prefix}/${file})
        message(FATAL_ERROR "${consumer_name}: ${consumer_prefix} has no ${file}")
    endif()
endforeach()

# lokiqt_library_dirs(<var>): the folders of the prefix that hold a lokiqt library, for the loader's path.
function(lokiqt_library_dirs var)
    file(GLOB_RECURSE _libs LIST_DIRECTORIES false
        ${consumer_prefix}/*lokiqt.so* ${consumer_prefix}/*lokiqt*.dylib ${consumer_prefix}/*lokiqt*.dll)
    set(_dirs "")
    foreach(_lib ${_libs})
        get_filename_component(_dir ${_lib} DIRECTORY)
        list(APPEND _dirs ${_dir})
    endforeach()
    list(REMOVE_DUPLICATES _dirs)
    set(${var} "${_dirs}" PARENT_SCOPE)
endfunction()
