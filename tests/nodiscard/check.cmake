# The [[nodiscard]] build test: compiles drop_futures.cpp once with
# -Werror=unused-result and checks that the compiler rejected exactly the
# lines marked `// DROP` (one error each, with corio's reason), and nothing
# else: so a future type that loses [[nodiscard]], and a JoinHandle that gains
# it, both fail this test. Run with -DCXX=<compiler> -DSOURCE_DIR=<repo root>
# -DFLAGS=<extra flags>.
set(source "${SOURCE_DIR}/tests/nodiscard/drop_futures.cpp")
separate_arguments(extra UNIX_COMMAND "${FLAGS}")
if(CXX MATCHES "clang")
    list(APPEND extra -ferror-limit=0)  # report every line, not the first 20
endif()
execute_process(
    COMMAND "${CXX}" -std=c++23 -fsyntax-only -Wall -Wextra -Werror=unused-result
            ${extra} "-I${SOURCE_DIR}/include" "${source}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)

file(STRINGS "${source}" lines)
set(expected "")
set(number 0)
foreach(line IN LISTS lines)
    math(EXPR number "${number} + 1")
    if(line MATCHES ";[ \t]*// DROP")
        list(APPEND expected ${number})
    endif()
endforeach()

set(reported "")
string(REPLACE "\n" ";" err_lines "${err}")
foreach(line IN LISTS err_lines)
    if(line MATCHES "drop_futures\\.cpp:([0-9]+):[0-9]+: error: (.*)$")
        set(at "${CMAKE_MATCH_1}")
        set(text "${CMAKE_MATCH_2}")
        if(NOT text MATCHES "a corio future does nothing unless it is awaited")
            message(FATAL_ERROR "drop_futures.cpp:${at}: an error that is not corio's nodiscard:\n${line}\n\n${err}")
        endif()
        list(APPEND reported ${at})
    endif()
endforeach()

list(LENGTH expected n_expected)
set(missing ${expected})
list(REMOVE_ITEM missing ${reported})
set(unexpected ${reported})
list(REMOVE_ITEM unexpected ${expected})
if(missing OR unexpected)
    message(FATAL_ERROR "nodiscard: lines that drop a future but compiled: [${missing}]; "
        "errors on lines not marked DROP: [${unexpected}]\n${err}")
endif()
if(rc EQUAL 0)
    message(FATAL_ERROR "nodiscard: the compiler accepted drop_futures.cpp")
endif()
message(STATUS "nodiscard: all ${n_expected} dropped futures rejected, spawn's JoinHandle dropped silently")
