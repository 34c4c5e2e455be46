# include()d by the parent projects in ../subproject_consumer and ../fetchcontent_consumer, which build lokiqt
# inside their own build (add_subdirectory, FetchContent):
#   lokiqt_parent_snapshot()                 before lokiqt is added: remembers the parent's settings
#   lokiqt_parent_check(<lokiqt source dir>) after: fails the configure step when lokiqt
#     - changed a setting of the parent: its build type (cache or variable), C++ standard, output folders,
#       AUTOMOC, flags, or its directory's compile options, definitions, include and link folders;
#     - defined a build target other than the library itself (lokiqt, lokiqt_objects) anywhere in its tree:
#       no tests, tools, examples, benchmarks, fuzzers or docs by default when not top level; or a test;
#     - does not give LokiQt::LokiQt, an ALIAS of lokiqt, as find_package(LokiQt) does;
#     - hands its own warning flags (-Wall, -Werror) on to the targets that link it.
set(_lokiqt_parent_variables
    CMAKE_BUILD_TYPE CMAKE_CONFIGURATION_TYPES BUILD_SHARED_LIBS
    CMAKE_CXX_STANDARD CMAKE_CXX_STANDARD_REQUIRED CMAKE_CXX_EXTENSIONS
    CMAKE_CXX_FLAGS CMAKE_CXX_FLAGS_DEBUG CMAKE_CXX_FLAGS_RELEASE CMAKE_CXX_FLAGS_RELWITHDEBINFO
    CMAKE_EXE_LINKER_FLAGS CMAKE_SHARED_LINKER_FLAGS
    CMAKE_AUTOMOC CMAKE_AUTORCC CMAKE_AUTOUIC CMAKE_POSITION_INDEPENDENT_CODE
    CMAKE_CXX_VISIBILITY_PRESET CMAKE_VISIBILITY_INLINES_HIDDEN
    CMAKE_RUNTIME_OUTPUT_DIRECTORY CMAKE_LIBRARY_OUTPUT_DIRECTORY CMAKE_ARCHIVE_OUTPUT_DIRECTORY)
set(_lokiqt_parent_properties COMPILE_OPTIONS COMPILE_DEFINITIONS INCLUDE_DIRECTORIES LINK_OPTIONS LINK_DIRECTORIES)

macro(lokiqt_parent_snapshot)
    foreach(_v IN LISTS _lokiqt_parent_variables)
        set(_lokiqt_before_${_v} "${${_v}}|defined:")
        if(DEFINED ${_v})
            string(APPEND _lokiqt_before_${_v} "yes")
        endif()
        set(_lokiqt_before_cache_${_v} "$CACHE{${_v}}|defined:")
        if(DEFINED CACHE{${_v}})
            string(APPEND _lokiqt_before_cache_${_v} "yes")
        endif()
    endforeach()
    foreach(_p IN LISTS _lokiqt_parent_properties)
        get_directory_property(_lokiqt_before_property_${_p} ${_p})
    endforeach()
    message(STATUS "parent: before lokiqt: CMAKE_BUILD_TYPE in the cache: '$CACHE{CMAKE_BUILD_TYPE}'")
endmacro()

# _lokiqt_tree_contents(<dir> <targets var> <tests var>): the build targets and tests of <dir> and below.
function(_lokiqt_tree_contents dir targets_var tests_var)
    get_directory_property(_targets DIRECTORY ${dir} BUILDSYSTEM_TARGETS)
    get_directory_property(_tests DIRECTORY ${dir} TESTS)
    get_directory_property(_subdirs DIRECTORY ${dir} SUBDIRECTORIES)
    foreach(_subdir IN LISTS _subdirs)
        _lokiqt_tree_contents(${_subdir} _sub_targets _sub_tests)
        list(APPEND _targets ${_sub_targets})
        list(APPEND _tests ${_sub_tests})
    endforeach()
    set(${targets_var} "${_targets}" PARENT_SCOPE)
    set(${tests_var} "${_tests}" PARENT_SCOPE)
endfunction()

macro(lokiqt_parent_check lokiqt_dir)
    set(_lokiqt_errors "")
    message(STATUS "parent: after lokiqt: CMAKE_BUILD_TYPE in the cache: '$CACHE{CMAKE_BUILD_TYPE}'")
    foreach(_v IN LISTS _lokiqt_parent_variables)
        set(_now "${${_v}}|defined:")
        if(DEFINED ${_v})
            string(APPEND _now "yes")
        endif()
        if(NOT _now STREQUAL _lokiqt_before_${_v})
            list(APPEND _lokiqt_errors "lokiqt changed the parent's ${_v}: '${_lokiqt_before_${_v}}' -> '${_now}'")
        endif()
        set(_now "$CACHE{${_v}}|defined:")
        if(DEFINED CACHE{${_v}})
            string(APPEND _now "yes")
        endif()
        if(NOT _now STREQUAL _lokiqt_before_cache_${_v})
            list(APPEND _lokiqt_errors
                "lokiqt changed the parent's cache entry ${_v}: '${_lokiqt_before_cache_${_v}}' -> '${_now}'")
        endif()
    endforeach()
    foreach(_p IN LISTS _lokiqt_parent_properties)
        get_directory_property(_now ${_p})
        if(NOT "${_now}" STREQUAL "${_lokiqt_before_property_${_p}}")
            list(APPEND _lokiqt_errors
                "lokiqt changed the parent directory's ${_p}: '${_lokiqt_before_property_${_p}}' -> '${_now}'")
        endif()
    endforeach()

    # The same target name as after find_package(LokiQt).
    if(NOT TARGET LokiQt::LokiQt)
        list(APPEND _lokiqt_errors "lokiqt defines no LokiQt::LokiQt target")
    else()
        get_target_property(_aliased LokiQt::LokiQt ALIASED_TARGET)
        if(NOT _aliased STREQUAL "lokiqt")
            list(APPEND _lokiqt_errors "LokiQt::LokiQt is not an ALIAS of lokiqt (aliased: '${_aliased}')")
        endif()
        # lokiqt's warning policy is for its own code: nothing of it may reach the targets that link it.
        foreach(_property INTERFACE_COMPILE_OPTIONS INTERFACE_LINK_OPTIONS)
            get_target_property(_options lokiqt ${_property})
            if(_options AND "${_options}" MATCHES "(^|;)(-W|/W)")
                list(APPEND _lokiqt_errors "lokiqt's ${_property} hands on warning flags: ${_options}")
            endif()
        endforeach()
    endif()

    # Only the library: no tests, tools, examples, benchmarks, fuzzers or docs when lokiqt is not top level.
    _lokiqt_tree_contents(${lokiqt_dir} _lokiqt_targets _lokiqt_tests)
    message(STATUS "parent: lokiqt's build targets: ${_lokiqt_targets}; its tests: '${_lokiqt_tests}'")
    set(_extra ${_lokiqt_targets})
    list(REMOVE_ITEM _extra lokiqt lokiqt_objects)
    if(_extra)
        list(APPEND _lokiqt_errors "lokiqt defined targets beyond its library when not top level: ${_extra}")
    endif()
    if(_lokiqt_tests)
        list(APPEND _lokiqt_errors "lokiqt registered tests when not top level: ${_lokiqt_tests}")
    endif()
    foreach(_target lokiqt-push lokiqt-receiver lokiqt-qtapp lokiqt_qtapp_ui lokiqt_testreceiver tst_lokiclient
            lokiqt-spool-writer lokiqt-bench docs)
        if(TARGET ${_target})
            list(APPEND _lokiqt_errors "lokiqt defined ${_target} when not top level")
        endif()
    endforeach()

    if(_lokiqt_errors)
        foreach(_error IN LISTS _lokiqt_errors)
            message(SEND_ERROR "parent: ${_error}")
        endforeach()
        message(FATAL_ERROR "parent: lokiqt as a subproject changed or added what it should not (above)")
    endif()
    message(STATUS "parent: lokiqt left the parent's settings alone and defined only its library")
endmacro()
