# corio-lint: finds the coroutine shapes that GCC 12 miscompiles (guide
# section 11, "Common mistakes"). Needs only CMake, so it runs wherever a
# corio user builds:
#
#   cmake -P corio-lint.cmake [--] PATH...     (or the installed `corio-lint PATH...`)
#
# PATH is a file or a folder (searched for .cpp .cc .cxx .hpp .hh .h .ipp).
# Prints `file:line: message` for each finding and exits non-zero if any.
# Line-based: it looks at one line at a time with comments removed, so a
# condition split over several lines can slip through; a line that must stay
# as it is can end with `// corio-lint: allow`, and a file that shows the
# shapes on purpose can say `corio-lint: skip-file` anywhere.
#
# The shapes:
# 1. co_await in the condition of if / while / switch / for / do-while
#    (GCC bug 106188: when the coroutine body declares no variable at its
#    outermost block, the coroutine resumes at the wrong place and crashes or
#    skips its body). Allowed: a declaration condition such as
#    `while (auto r = co_await x)`.
# 2. co_await in the same statement as &&, || or ?: (GCC evaluates an await
#    that short-circuiting should have skipped).
# 3. a lambda with captures, or a braced temporary that builds an object,
#    written inside the co_await operand (`co_await run([p] {...})`,
#    `co_await Op{1, std::string("x")}`): GCC destroys the captures or
#    members twice. (`co_await Op{&state}` with trivial members is harmless
#    and not reported.)
# The fix for all: name the value or await in a statement of its own, then
# branch on the result.
cmake_minimum_required(VERSION 3.20)

set(paths "")
set(after_script FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE 1 ${last})
    set(arg "${CMAKE_ARGV${i}}")
    if(after_script)
        if(NOT arg STREQUAL "--")
            list(APPEND paths "${arg}")
        endif()
    elseif(arg STREQUAL "-P")
        math(EXPR next "${i} + 1")
        set(skip_index ${next})
    elseif(DEFINED skip_index AND i EQUAL skip_index)
        set(after_script TRUE)
    endif()
endforeach()
if(DEFINED CORIO_LINT_PATHS)  # -DCORIO_LINT_PATHS=a;b before -P
    list(APPEND paths ${CORIO_LINT_PATHS})
endif()
if(NOT paths)
    message(FATAL_ERROR "usage: cmake -P corio-lint.cmake PATH...  (files or folders)")
endif()

set(files "")
foreach(path IN LISTS paths)
    get_filename_component(path "${path}" ABSOLUTE)
    if(IS_DIRECTORY "${path}")
        file(GLOB_RECURSE found
            "${path}/*.cpp" "${path}/*.cc" "${path}/*.cxx"
            "${path}/*.hpp" "${path}/*.hh" "${path}/*.h" "${path}/*.ipp")
        list(APPEND files ${found})
    elseif(EXISTS "${path}")
        list(APPEND files "${path}")
    else()
        message(FATAL_ERROR "corio-lint: no such file or folder: ${path}")
    endif()
endforeach()
list(REMOVE_DUPLICATES files)
list(SORT files)

set(ws "[ \t]*")
set(ident "[A-Za-z_][A-Za-z0-9_]*")
set(keyword_open "(^|[^A-Za-z0-9_])(if|while|switch|for)${ws}(constexpr${ws})?\\(")
# `Type name = co_await ...` / `auto& r = co_await ...` at the start of a condition
set(declaration "^${ws}${ident}[A-Za-z0-9_:<>, ]*[ \t&*]+${ident}${ws}=${ws}co_await")

# Sets `${out}` to the text between the parenthesis that ends `${prefix}` in
# `${code}` and its matching closing one (or to the rest of the line).
function(parenthesised code prefix out)
    string(LENGTH "${prefix}" start)
    string(LENGTH "${code}" length)
    set(depth 1)
    set(i ${start})
    while(i LESS length)
        string(SUBSTRING "${code}" ${i} 1 c)
        if(c STREQUAL "(")
            math(EXPR depth "${depth} + 1")
        elseif(c STREQUAL ")")
            math(EXPR depth "${depth} - 1")
            if(depth EQUAL 0)
                break()
            endif()
        endif()
        math(EXPR i "${i} + 1")
    endwhile()
    math(EXPR n "${i} - ${start}")
    string(SUBSTRING "${code}" ${start} ${n} inside)
    set(${out} "${inside}" PARENT_SCOPE)
endfunction()

# Sets `${out}` to a message when a condition on this line awaits.
function(check_conditions code out)
    set(${out} "" PARENT_SCOPE)
    set(rest "${code}")
    while(rest MATCHES "${keyword_open}")
        string(FIND "${rest}" "${CMAKE_MATCH_0}" at)
        set(keyword "${CMAKE_MATCH_2}")
        string(LENGTH "${CMAKE_MATCH_0}" matched)
        math(EXPR end "${at} + ${matched}")
        string(SUBSTRING "${rest}" 0 ${end} prefix)
        parenthesised("${rest}" "${prefix}" condition)
        if(keyword STREQUAL "for")
            # Only the middle clause is a condition; a range-for is not.
            if(condition MATCHES "^[^;]*;([^;]*);")
                set(condition "${CMAKE_MATCH_1}")
            elseif(condition MATCHES "<semicolon>")
                set(condition "")
            else()
                set(condition "")
            endif()
        endif()
        if(condition MATCHES "co_await")
            # `if (init; cond)`: check the part after the init statement too.
            if(NOT condition MATCHES "${declaration}" OR condition MATCHES ";.*co_await")
                set(${out} "co_await in the condition of `${keyword}` (GCC 12 miscompiles it: bug 106188)" PARENT_SCOPE)
                return()
            endif()
        endif()
        string(SUBSTRING "${rest}" ${end} -1 rest)
    endwhile()
endfunction()

set(findings 0)
set(report "")
foreach(file IN LISTS files)
    file(READ "${file}" content)
    if(NOT content MATCHES "co_await" OR content MATCHES "corio-lint: skip-file")
        continue()
    endif()
    # One list element per line; protect the characters CMake lists treat specially.
    string(REPLACE "\\" "/" content "${content}")
    string(REPLACE ";" "<semicolon>" content "${content}")
    string(REPLACE "[" "<lb>" content "${content}")
    string(REPLACE "]" "<rb>" content "${content}")
    string(REPLACE "\n" ";" lines "${content}")
    set(number 0)
    foreach(line IN LISTS lines)
        math(EXPR number "${number} + 1")
        if(NOT line MATCHES "co_await" OR line MATCHES "corio-lint: allow")
            continue()
        endif()
        string(REPLACE "<semicolon>" ";" line "${line}")
        string(REGEX REPLACE "//.*$" "" code "${line}")
        string(REGEX REPLACE "\"([^\"]|\\\\\")*\"" "\"\"" code "${code}")
        set(message "")
        if(code MATCHES "co_await[^;]*(\\?|&&|\\|\\|)" OR code MATCHES "(\\?|&&|\\|\\|)[^;]*co_await")
            set(message "co_await in an expression with &&, || or ?: (GCC 12 may evaluate an await that should be skipped)")
        elseif(code MATCHES "co_await[^;]*<lb>[^]=&]+<rb>${ws}(\\(|\\{|mutable)" OR
               code MATCHES "co_await[^;]*<lb>[=&]${ws},[^;]*<rb>${ws}(\\(|\\{|mutable)" OR
               code MATCHES "co_await[^;]*<lb>[=&]<rb>${ws}(\\(|\\{|mutable)" OR
               code MATCHES "co_await[^;]*<lb>[^;]*${ident}${ws}=[^=][^;]*<rb>${ws}(\\(|\\{|mutable)")
            set(message "a capturing lambda inside the co_await operand (GCC 12 destroys its captures twice): name it first")
        elseif(code MATCHES "co_await${ws}${ident}(::${ident})*(<[^;{]*>)?${ws}\\{[^};]*[(\"]")
            set(message "a braced temporary as the co_await operand (GCC 12 destroys its members twice): name it first")
        else()
            check_conditions("${code}" message)
        endif()
        if(message)
            math(EXPR findings "${findings} + 1")
            string(STRIP "${line}" shown)
            string(REPLACE "<lb>" "[" shown "${shown}")
            string(REPLACE "<rb>" "]" shown "${shown}")
            string(APPEND report "${file}:${number}: ${message}\n    ${shown}\n")
        endif()
    endforeach()
endforeach()

list(LENGTH files checked)
if(findings GREATER 0)
    message("${report}")
    message(FATAL_ERROR "corio-lint: ${findings} line(s) in ${checked} file(s) use a coroutine shape that GCC 12 "
        "miscompiles. Await in a statement of its own (`auto r = co_await x;`), then branch on r. "
        "See the corio guide, section 11.")
endif()
message(STATUS "corio-lint: ${checked} file(s) checked, no GCC 12 coroutine trap found")
