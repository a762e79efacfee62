# Run by the `install_consumer` CTest test (see tests/CMakeLists.txt):
#   1. install the already-built corio into ${WORK_DIR}/prefix,
#   2. configure and build this directory's project against that prefix with
#      the same compiler and flags,
#   3. run the result and require exit status 0.
set(test_name "install_consumer")
include("${CMAKE_CURRENT_LIST_DIR}/../consumer_steps.cmake")
consumer_require(CORIO_BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)

set(prefix "${WORK_DIR}/prefix")
set(consumer_build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")



install_corio("${prefix}")

configure_consumer("${consumer_build}" "-DCMAKE_PREFIX_PATH=${prefix}")
run_step("build" ${CMAKE_COMMAND} --build "${consumer_build}" ${config_args})

find_program(consumer_exe install_consumer
    PATHS "${consumer_build}" "${consumer_build}/${CONFIG}"
    NO_DEFAULT_PATH REQUIRED)
run_step("run" "${consumer_exe}")
# The installed lint: through the package's CTest helper, and as a command.
get_filename_component(cmake_bin_dir "${CMAKE_COMMAND}" DIRECTORY)
run_step("lint test" "${cmake_bin_dir}/ctest" --test-dir "${consumer_build}" --output-on-failure)
run_step("lint command" "${prefix}/bin/corio-lint" "${CONSUMER_SOURCE_DIR}")
message(STATUS "install_consumer: OK")
