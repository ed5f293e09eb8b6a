# README.md's embedding snippet must be the code test/package_consumer/main.cpp compiles and
# runs (between its "begin README snippet" and "end README snippet" comments, one indent
# less), so that the README never shows code that does not build.
#   cmake -DCONSUMER=<main.cpp> -DREADME=<README.md> -P readme_snippet.cmake
file(READ ${CONSUMER} consumer)
if(NOT consumer MATCHES "// --- begin README snippet ---\n(.*)  // --- end README snippet ---")
  message(FATAL_ERROR "${CONSUMER} has no README snippet markers")
endif()
string(REGEX REPLACE "\n  " "\n" snippet "\n${CMAKE_MATCH_1}")
file(READ ${README} readme)
string(FIND "${readme}" "${snippet}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README.md's embedding snippet differs from ${CONSUMER}; it should read:${snippet}")
endif()
