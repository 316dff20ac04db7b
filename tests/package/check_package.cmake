# ctest script: install this build into a scratch prefix, then configure, build and run
# tests/package/consumer against it with find_package(rnnx CONFIG); finally build the library and
# CLI once more with RNNX_CUDA=OFF and check that `rnnx info` says the GPU engines are not built.
#
# Inputs (-D): BINARY_DIR (this build), SOURCE_DIR (the repository), WORK_DIR (scratch),
#              GENERATOR, BUILD_TYPE, CPU_ONLY (ON to run the RNNX_CUDA=OFF part).

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

run_step("cmake --install" ${CMAKE_COMMAND} --install "${BINARY_DIR}" --prefix "${prefix}")
foreach(expected include/rnnx/rnnx.h include/rnnx/version.h lib/cmake/rnnx/rnnxConfig.cmake
                 lib/cmake/rnnx/FindCUDNN.cmake bin/rnnx)
  if(NOT EXISTS "${prefix}/${expected}")
    message(FATAL_ERROR "cmake --install did not install ${expected}")
  endif()
endforeach()

run_step("configuring the consumer" ${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/package/consumer"
         -B "${WORK_DIR}/consumer" -G "${GENERATOR}" -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
         "-DCMAKE_PREFIX_PATH=${prefix}")
run_step("building the consumer" ${CMAKE_COMMAND} --build "${WORK_DIR}/consumer")
run_step("running the consumer" "${WORK_DIR}/consumer/consumer")
message(STATUS "${step_output}")
if(NOT step_output MATCHES "consumer: rnnx")
  message(FATAL_ERROR "the consumer printed no result")
endif()

if(CPU_ONLY)
  run_step("configuring with RNNX_CUDA=OFF" ${CMAKE_COMMAND} -S "${SOURCE_DIR}"
           -B "${WORK_DIR}/cpu_only" -G "${GENERATOR}" -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
           -DRNNX_CUDA=OFF -DRNNX_BUILD_TESTS=OFF -DRNNX_BUILD_BENCH=OFF -DRNNX_WERROR=ON)
  run_step("building with RNNX_CUDA=OFF" ${CMAKE_COMMAND} --build "${WORK_DIR}/cpu_only")
  run_step("rnnx info (RNNX_CUDA=OFF)" "${WORK_DIR}/cpu_only/src/rnnx" info)
  foreach(expected "CUDA off" "gpu_dynamic     engine gpu_dynamic is not built"
                   "cudnn           engine cudnn is not built" "picks cpu ")
    if(NOT step_output MATCHES "${expected}")
      message(FATAL_ERROR "rnnx info (RNNX_CUDA=OFF) lacks '${expected}':\n${step_output}")
    endif()
  endforeach()
  # The CPU-only package must be consumable too.
  run_step("installing the CPU-only build" ${CMAKE_COMMAND} --install "${WORK_DIR}/cpu_only"
           --prefix "${WORK_DIR}/prefix_cpu")
  run_step("configuring the consumer (CPU-only)" ${CMAKE_COMMAND}
           -S "${SOURCE_DIR}/tests/package/consumer" -B "${WORK_DIR}/consumer_cpu"
           -G "${GENERATOR}" -DCMAKE_BUILD_TYPE=${BUILD_TYPE} "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix_cpu")
  run_step("building the consumer (CPU-only)" ${CMAKE_COMMAND} --build "${WORK_DIR}/consumer_cpu")
  run_step("running the consumer (CPU-only)" "${WORK_DIR}/consumer_cpu/consumer")
  if(NOT step_output MATCHES "CUDA 0")
    message(FATAL_ERROR "the CPU-only consumer does not report CUDA 0:\n${step_output}")
  endif()
endif()
