# Installs the build tree into WORK_DIR/prefix, builds the consumer against it and runs it (a
# Supervisor with the installed fake agent); then builds examples/embed (EXAMPLE_DIR), as a
# project of its own, against the same prefix and runs it with the installed fake agent; then
# the GoogleTest suite on the installed test kit (KIT_DIR).
file(REMOVE_RECURSE ${WORK_DIR})
function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}")
  endif()
endfunction()
step(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
step(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
step(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
step(${WORK_DIR}/build/consumer ${WORK_DIR}/data)
step(${CMAKE_COMMAND} -S ${EXAMPLE_DIR} -B ${WORK_DIR}/embed-build -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
step(${CMAKE_COMMAND} --build ${WORK_DIR}/embed-build)
step(${WORK_DIR}/embed-build/hostsweep-embed-example ${WORK_DIR}/embed-data --exit-after-first-completion)
step(${CMAKE_COMMAND} -S ${KIT_DIR} -B ${WORK_DIR}/kit-build -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
step(${CMAKE_COMMAND} --build ${WORK_DIR}/kit-build)
step(${WORK_DIR}/kit-build/kit_consumer_tests)
