# GCC 12.2 miscompiles co_await inside ?:, && and || (the branch not taken
# still creates and polls its future). Fails when a source line puts co_await
# in such an expression. Run with -DSOURCE_DIR=<repo root>.
file(GLOB_RECURSE sources
    "${SOURCE_DIR}/include/*.hpp" "${SOURCE_DIR}/src/*.cpp" "${SOURCE_DIR}/src/*.hpp"
    "${SOURCE_DIR}/tests/*.cpp" "${SOURCE_DIR}/tests/*.hpp"
    "${SOURCE_DIR}/examples/*.cpp" "${SOURCE_DIR}/bench/*.cpp")
set(bad "")
foreach(file IN LISTS sources)
    file(STRINGS "${file}" lines REGEX "co_await")
    foreach(line IN LISTS lines)
        string(REGEX REPLACE "//.*$" "" code "${line}")
        if(code MATCHES "co_await[^;]*(\\?|&&|\\|\\|)" OR code MATCHES "(\\?|&&|\\|\\|)[^;]*co_await")
            string(APPEND bad "${file}: ${line}\n")
        endif()
    endforeach()
endforeach()
if(bad)
    message(FATAL_ERROR "co_await inside ?:, && or || (GCC 12 miscompiles it):\n${bad}")
endif()
