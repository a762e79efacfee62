# What the consumer test scripts (install_consumer, subproject_consumer,
# pkgconfig_consumer: each a run.cmake run with `cmake -P`) share. Set
# `test_name` before including it.

# Fails unless every named variable was given with -D.
function(consumer_require)
    foreach(var IN LISTS ARGN)
        if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
            message(FATAL_ERROR "${test_name}: -D${var}=... is required")
        endif()
    endforeach()
endfunction()

# Runs a command; a non-zero exit fails the test, naming the step.
function(run_step what)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "${test_name}: ${what} failed (${rc})")
    endif()
endfunction()

# `--config <CONFIG>` for multi-config generators, nothing otherwise.
set(config_args)
if(CONFIG)
    set(config_args --config "${CONFIG}")
endif()

# Installs the already-built corio of CORIO_BUILD_DIR into `prefix`.
function(install_corio prefix)
    run_step("install" ${CMAKE_COMMAND} --install "${CORIO_BUILD_DIR}" --prefix "${prefix}" ${config_args})
endfunction()

# Configures the consumer project CONSUMER_SOURCE_DIR into `build_dir` with
# the parent build's generator, compiler, flags and build type, plus the
# extra -D arguments given after it.
function(configure_consumer build_dir)
    set(configure_args
        -S "${CONSUMER_SOURCE_DIR}"
        -B "${build_dir}"
        -G "${GENERATOR}"
        ${ARGN}
        "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
        "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
        "-DCMAKE_EXE_LINKER_FLAGS=${EXE_LINKER_FLAGS}")
    if(MAKE_PROGRAM)
        list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
    endif()
    if(BUILD_TYPE)
        string(TOUPPER "${BUILD_TYPE}" build_type_upper)
        list(APPEND configure_args
            "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}"
            "-DCMAKE_CXX_FLAGS_${build_type_upper}=${CXX_FLAGS_CONFIG}")
    endif()
    run_step("configure" ${CMAKE_COMMAND} ${configure_args})
endfunction()
