# SPDX-License-Identifier: MIT
# Fails when an object file of the library has a dynamic initializer (a namespace-scope object that needs code
# to run before main()): such an object is still unset while an application's own static initializers run,
# and a global static LokiClient sees it so (issue 9, 2.6). Function-local statics and constexpr objects are
# fine.
#   cmake -DNM=<nm> -DOBJECTS=<a.o|b.o|...> -P check_no_static_init.cmake
string(REPLACE "|" ";" objects "${OBJECTS}")
set(bad "")
foreach(object IN LISTS objects)
    execute_process(COMMAND "${NM}" "${object}" OUTPUT_VARIABLE symbols RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "${NM} ${object} failed")
    endif()
    if(symbols MATCHES "_GLOBAL__sub_I_|_GLOBAL__I_")
        get_filename_component(name "${object}" NAME)
        list(APPEND bad "${name}")
    endif()
endforeach()
list(LENGTH objects count)
if(bad)
    message(FATAL_ERROR "dynamic initializers (run-time-initialized globals) in: ${bad}; make them constexpr "
                        "or function-local")
endif()
message(STATUS "${count} object files, none with a dynamic initializer")
