# Run by the `subdirectory_consumer` and `fetchcontent_consumer` CTest tests
# (see tests/CMakeLists.txt), with -DCORIO_CONSUME=subdirectory|fetchcontent:
#   1. configure this directory's project, which builds corio from its source
#      tree as a subproject, with the parent build's compiler and flags (and
#      its CORIO_WERROR, so corio's own sources still build with -Werror);
#   2. check, in compile_commands.json, that the consumer's own file gets
#      corio's usage requirements (C++23, -foptimize-sibling-calls) and none
#      of corio's warning flags;
#   3. build it, check that no corio test binary was built and that
#      installing the consumer installs nothing of corio's;
#   4. run the result and require exit status 0.
cmake_minimum_required(VERSION 3.25)
set(test_name "${CORIO_CONSUME}_consumer")
include("${CMAKE_CURRENT_LIST_DIR}/../consumer_steps.cmake")
consumer_require(CORIO_SOURCE_DIR CORIO_CONSUME CONSUMER_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)

set(consumer_build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")



configure_consumer("${consumer_build}"
    "-DCORIO_SOURCE_DIR=${CORIO_SOURCE_DIR}"
    "-DCORIO_CONSUME=${CORIO_CONSUME}"
    "-DCORIO_WERROR=${CORIO_WERROR}"
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)

# ---- Flags: what reaches the consumer's own translation unit ----------------
set(compile_db "${consumer_build}/compile_commands.json")
if(EXISTS "${compile_db}")
    file(READ "${compile_db}" db)
    string(JSON count LENGTH "${db}")
    math(EXPR last "${count} - 1")
    set(consumer_command "")
    set(corio_command "")
    foreach(i RANGE ${last})
        string(JSON file GET "${db}" ${i} file)
        string(JSON command GET "${db}" ${i} command)
        if(file MATCHES "subproject_consumer/main\\.cpp$")
            set(consumer_command " ${command} ")
        elseif(file MATCHES "/src/.*\\.cpp$")
            set(corio_command " ${command} ")
        endif()
    endforeach()
    if(consumer_command STREQUAL "" OR corio_command STREQUAL "")
        message(FATAL_ERROR "${test_name}: compile_commands.json lacks main.cpp or corio's sources")
    endif()
    if(NOT consumer_command MATCHES " -foptimize-sibling-calls ")
        message(FATAL_ERROR "${test_name}: main.cpp lacks -foptimize-sibling-calls:${consumer_command}")
    endif()
    if(NOT consumer_command MATCHES " -std=(c|gnu)\\+\\+(23|2b) ")
        message(FATAL_ERROR "${test_name}: main.cpp is not compiled as C++23:${consumer_command}")
    endif()
    # corio's warnings are for corio's own targets; the consumer's file gets
    # them only through the flags it was given itself.
    foreach(flag IN ITEMS -Wall -Wextra -Wpedantic -Werror)
        if(consumer_command MATCHES " ${flag} " AND NOT " ${CXX_FLAGS} ${CXX_FLAGS_CONFIG} " MATCHES " ${flag} ")
            message(FATAL_ERROR "${test_name}: corio leaked ${flag} into the consumer:${consumer_command}")
        endif()
    endforeach()
    if(CORIO_WERROR AND NOT corio_command MATCHES " -Werror ")
        message(FATAL_ERROR "${test_name}: CORIO_WERROR=ON but corio's sources lack -Werror:${corio_command}")
    endif()
else()
    message(STATUS "${test_name}: no compile_commands.json with generator ${GENERATOR}; flag checks skipped")
endif()

run_step("build" ${CMAKE_COMMAND} --build "${consumer_build}" ${config_args})

file(GLOB_RECURSE corio_test_binaries "${consumer_build}/*corio_tests*")
if(corio_test_binaries)
    message(FATAL_ERROR "${test_name}: corio's tests got built: ${corio_test_binaries}")
endif()

# corio's install rules are off as a subproject (CORIO_INSTALL): installing
# the consumer (which has none of its own) installs nothing.
run_step("install" ${CMAKE_COMMAND} --install "${consumer_build}" --prefix "${WORK_DIR}/prefix" ${config_args})
file(GLOB_RECURSE installed "${WORK_DIR}/prefix/*")
if(installed)
    message(FATAL_ERROR "${test_name}: installing the consumer installed corio's files: ${installed}")
endif()

find_program(consumer_exe subproject_consumer
    PATHS "${consumer_build}" "${consumer_build}/${CONFIG}"
    NO_DEFAULT_PATH REQUIRED)
run_step("run" "${consumer_exe}")
message(STATUS "${test_name}: OK")
