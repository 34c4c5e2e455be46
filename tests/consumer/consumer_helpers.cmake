# Helpers of the consumer scripts (include()d; defines functions only, no side effects).
# consumer_generator_args(<list>): appends to <list> the settings of the test's own build that a child build
# must share: Qt6_DIR, the generator's platform and toolset, the make program; and passes the test's
# CMAKE_PREFIX_PATH on through the environment.
macro(consumer_generator_args list)
    # Through the environment: a list would be split into several arguments on the way to execute_process.
    if(CONSUMER_PREFIX_PATH AND WIN32)
        set(ENV{CMAKE_PREFIX_PATH} "${CONSUMER_PREFIX_PATH}")
    elseif(CONSUMER_PREFIX_PATH)
        string(REPLACE ";" ":" native_prefix_path "${CONSUMER_PREFIX_PATH}")
        set(ENV{CMAKE_PREFIX_PATH} "${native_prefix_path}")
    endif()
    if(CONSUMER_QT6_DIR)
        list(APPEND ${list} "-DQt6_DIR=${CONSUMER_QT6_DIR}")
    endif()
    if(CONSUMER_GENERATOR_PLATFORM)
        list(APPEND ${list} -A ${CONSUMER_GENERATOR_PLATFORM})
    endif()
    if(CONSUMER_GENERATOR_TOOLSET)
        list(APPEND ${list} -T ${CONSUMER_GENERATOR_TOOLSET})
    endif()
    if(CONSUMER_MAKE_PROGRAM)
        list(APPEND ${list} "-DCMAKE_MAKE_PROGRAM=${CONSUMER_MAKE_PROGRAM}")
    endif()
endmacro()

# consumer_find_one(<var> <label> <what> <dir> <glob>): the one file under <dir> that matches <glob>, in
# <var>; none or several fail the test, saying what was looked for (<label>: the test's name).
function(consumer_find_one var label what dir glob)
    file(GLOB_RECURSE found LIST_DIRECTORIES false "${dir}/${glob}")
    list(LENGTH found count)
    if(NOT count EQUAL 1)
        message(FATAL_ERROR "${label}: expected one ${what} under ${dir}, found: ${found}")
    endif()
    set(${var} ${found} PARENT_SCOPE)
endfunction()

# consumer_find_app(<var> <label> <build> <config>): the executable "app" a consumer project built in
# <build> (single- or multi-config, .exe or not), in <var>; none fails the test.
function(consumer_find_app var label build config)
    foreach(candidate ${build}/app ${build}/app.exe ${build}/${config}/app ${build}/${config}/app.exe)
        if(EXISTS ${candidate} AND NOT IS_DIRECTORY ${candidate})
            set(${var} ${candidate} PARENT_SCOPE)
            return()
        endif()
    endforeach()
    message(FATAL_ERROR "${label}: the consumer's executable was not found under ${build}")
endfunction()
