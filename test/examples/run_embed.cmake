# Runs examples/embed with the real fake agent, as its --exit-after-first-completion mode
# allows, and checks what it did: exit status 0 (its stop completed with success, and it fails
# by itself when the message has not completed within a minute), the message completed, and
# the program's own timer ticked on the same loop before it (the first tick enqueues).
#   cmake -DEXAMPLE=<program> -DDATA_DIR=<scratch dir> -P run_embed.cmake
file(REMOVE_RECURSE ${DATA_DIR})
execute_process(COMMAND ${EXAMPLE} ${DATA_DIR} --exit-after-first-completion
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the example failed (${rc})")
endif()
foreach(expected "tick 1: " "enqueued " "container.started " "message.completed " "stopped: success" "exit 0")
  string(FIND "${out}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the example's output lacks \"${expected}\"")
  endif()
  list(APPEND positions ${at})
endforeach()
# In that order: a tick, the message enqueued, its container, its completion, the stop.
set(sorted ${positions})
list(SORT sorted COMPARE NATURAL)
if(NOT sorted STREQUAL positions)
  message(FATAL_ERROR "the example's output is out of order (${positions})")
endif()
