# Warning and sanitizer flags live on an interface target that every hostsweep
# target links privately, so nothing leaks into an embedding project's flags.
add_library(hostsweep_build_options INTERFACE)
target_compile_options(hostsweep_build_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Wunused -Woverloaded-virtual -Wconversion -Wsign-conversion
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough
  # Designated initializers leave defaulted members out on purpose; GCC 12 warns anyway.
  -Wno-missing-field-initializers)
if(HOSTSWEEP_WERROR)
  target_compile_options(hostsweep_build_options INTERFACE -Werror)
endif()
if(HOSTSWEEP_SANITIZE)
  target_compile_options(hostsweep_build_options INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(hostsweep_build_options INTERFACE -fsanitize=address,undefined)
endif()
# ThreadSanitizer (the tsan preset): the embedding API's any-thread promise, checked.
if(HOSTSWEEP_TSAN)
  if(HOSTSWEEP_SANITIZE OR HOSTSWEEP_FUZZ)
    message(FATAL_ERROR "HOSTSWEEP_TSAN cannot be combined with AddressSanitizer (HOSTSWEEP_SANITIZE, HOSTSWEEP_FUZZ)")
  endif()
  # -Wno-tsan: GCC warns that TSan does not model the atomic_thread_fence in Asio's recycling
  # allocator (a race ordered only by that fence would be reported, falsely); none is, so far.
  target_compile_options(hostsweep_build_options INTERFACE -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan)
  target_link_options(hostsweep_build_options INTERFACE -fsanitize=thread)
endif()
# The fuzz build: every target instrumented for libFuzzer's coverage feedback; only the
# fuzzers themselves link libFuzzer's main (fuzz/CMakeLists.txt).
if(HOSTSWEEP_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "HOSTSWEEP_FUZZ needs clang (configure with the fuzz preset)")
  endif()
  target_compile_options(hostsweep_build_options INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(hostsweep_build_options INTERFACE -fsanitize=address,undefined)
endif()

# hostsweep_target_defaults(<target>): the project's standard for one target.
function(hostsweep_target_defaults target)
  target_compile_features(${target} PUBLIC cxx_std_20)
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
  target_link_libraries(${target} PRIVATE $<BUILD_INTERFACE:hostsweep_build_options>)
endfunction()
