# The installed surface (issue 11): every header of include/hostsweep/ compiles on its own with
# nothing but that directory (and the system's Boost) on the include path, so it never reaches
# into the library's internals; and none of them brings date/tz.h, SQLiteCpp, spdlog or fmt into
# an embedder's translation units (the preprocessor's dependency list says what each includes).
#   cmake -DCXX=<compiler> -DINCLUDE_DIR=<include> -DWORK_DIR=<scratch> -P public_headers.cmake
file(GLOB_RECURSE headers RELATIVE ${INCLUDE_DIR} ${INCLUDE_DIR}/hostsweep/*.hpp)
list(LENGTH headers count)
if(count LESS 10)
  message(FATAL_ERROR "found only ${count} public headers under ${INCLUDE_DIR}")
endif()
file(MAKE_DIRECTORY ${WORK_DIR})
set(failures "")
foreach(header IN LISTS headers)
  string(MAKE_C_IDENTIFIER ${header} name)
  set(source ${WORK_DIR}/${name}.cpp)
  file(WRITE ${source} "#include <${header}>\n#include <${header}>\n")  # twice: the include guard
  execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -Wall -Wextra -Werror -I${INCLUDE_DIR} ${source}
    RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(APPEND failures "${header} does not compile on its own:\n${err}\n")
    continue()
  endif()
  execute_process(COMMAND ${CXX} -std=c++20 -M -I${INCLUDE_DIR} ${source} OUTPUT_VARIABLE deps RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(APPEND failures "${header}: the preprocessor failed\n")
    continue()
  endif()
  foreach(forbidden IN ITEMS "/date/" "/SQLiteCpp/" "sqlite3.h" "/spdlog/" "/fmt/")
    string(FIND "${deps}" "${forbidden}" at)
    if(NOT at EQUAL -1)
      string(APPEND failures "${header} includes ${forbidden} (only the library may)\n")
    endif()
  endforeach()
endforeach()
if(failures)
  message(FATAL_ERROR "${failures}")
endif()
message(STATUS "${count} public headers: each compiles alone and includes none of the library's private dependencies")
