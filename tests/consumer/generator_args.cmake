# Shared by the consumer scripts that configure a CMake project of their own (include()d, no side effects).
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
