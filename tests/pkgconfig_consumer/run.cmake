# Run by the `pkgconfig_consumer` CTest test (see tests/CMakeLists.txt):
#   1. install the already-built corio into ${WORK_DIR}/prefix,
#   2. compile tests/install_consumer/main.cpp by hand, the way a user without
#      CMake would: `c++ main.cpp $(pkg-config --cflags --libs corio)`, with
#      the parent build's compiler and flags and
#      PKG_CONFIG_PATH=<prefix>/<libdir>/pkgconfig,
#   3. run the result and require exit status 0.
# Prints "SKIPPED" (which the test reports as skipped) without pkg-config.
cmake_minimum_required(VERSION 3.25)
set(test_name "pkgconfig_consumer")
include("${CMAKE_CURRENT_LIST_DIR}/../consumer_steps.cmake")
consumer_require(CORIO_BUILD_DIR CONSUMER_SOURCE WORK_DIR CXX_COMPILER)

find_program(PKG_CONFIG_EXECUTABLE NAMES pkg-config pkgconf)
if(NOT PKG_CONFIG_EXECUTABLE)
    message(STATUS "pkgconfig_consumer: SKIPPED: no pkg-config (apt-get install pkg-config)")
    return()
endif()

set(prefix "${WORK_DIR}/prefix")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")


install_corio("${prefix}")

file(GLOB_RECURSE pc_files "${prefix}/corio.pc")
list(LENGTH pc_files pc_count)
if(NOT pc_count EQUAL 1)
    message(FATAL_ERROR "pkgconfig_consumer: expected one installed corio.pc, found '${pc_files}'")
endif()
get_filename_component(pc_dir "${pc_files}" DIRECTORY)

execute_process(
    COMMAND ${CMAKE_COMMAND} -E env "PKG_CONFIG_PATH=${pc_dir}"
        "${PKG_CONFIG_EXECUTABLE}" --cflags --libs corio
    RESULT_VARIABLE rc
    OUTPUT_VARIABLE pc_flags
    OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkgconfig_consumer: pkg-config --cflags --libs corio failed (${rc})")
endif()
message(STATUS "pkgconfig_consumer: pkg-config --cflags --libs corio: ${pc_flags}")
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
foreach(flag IN ITEMS -std=c++23 -foptimize-sibling-calls -pthread -lcorio)
    if(NOT flag IN_LIST pc_flags)
        message(FATAL_ERROR "pkgconfig_consumer: pkg-config's flags lack ${flag}")
    endif()
endforeach()
separate_arguments(cxx_flags UNIX_COMMAND "${CXX_FLAGS} ${CXX_FLAGS_CONFIG}")
separate_arguments(link_flags UNIX_COMMAND "${EXE_LINKER_FLAGS}")
set(exe "${WORK_DIR}/pkgconfig_consumer")
run_step("compile"
    "${CXX_COMPILER}" ${cxx_flags} "${CONSUMER_SOURCE}" -o "${exe}" ${pc_flags} ${link_flags})
run_step("run" "${exe}")
message(STATUS "pkgconfig_consumer: OK")
