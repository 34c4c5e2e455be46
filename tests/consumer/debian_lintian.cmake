# Run by ctest as debian_lintian: cmake -DPARAMS=<file> -DWORK_DIR=<dir> -P debian_lintian.cmake
# Runs lintian (Debian's package checker; scripts/deps.sh installs it) on the packages that debian_packages_build
# made in <dir>/debs, and fails on any error it reports. Its warnings and infos are printed, not failed on: those
# that remain are explained in cmake/LokiQtPackaging.cmake and README.md.
cmake_minimum_required(VERSION 3.19)

include(${PARAMS})
set(name debian_lintian)
if(NOT LINTIAN)
    message(FATAL_ERROR "${name}: lintian was not found when lokiqt was configured. Debian/Ubuntu: "
                        "apt-get install lintian (scripts/deps.sh does), then configure again.")
endif()
file(GLOB debs ${WORK_DIR}/debs/*.deb)
list(LENGTH debs count)
if(NOT count EQUAL 2)
    message(FATAL_ERROR "${name}: expected the two packages in ${WORK_DIR}/debs, found: ${debs}")
endif()

# --display-info: the infos too, for the record. lintian's exit status is non-zero on an error (its default
# --fail-on); the output is checked as well, so that no error line passes whatever the version's default.
execute_process(COMMAND ${LINTIAN} --display-info --tag-display-limit 0 ${debs}
    RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE errors)
message(STATUS "${name}: lintian --display-info ${debs} (exit status ${result}):\n${output}${errors}")
string(REGEX MATCHALL "(^|\n)E: [^\n]*" error_lines "${output}")
if(NOT result EQUAL 0 OR error_lines)
    message(FATAL_ERROR "${name}: lintian reports errors (exit status ${result}): ${error_lines}")
endif()
string(REGEX MATCHALL "(^|\n)[WI]: [^\n]*" other_lines "${output}")
list(LENGTH other_lines other_count)
message(STATUS "${name}: passed: no lintian errors (${other_count} warnings and infos, above)")
