# ctest script: install this build into a scratch prefix, then configure, build and run
# tests/package/consumer against it with find_package(rnnx CONFIG); finally build the library and
# CLI once more with RNNX_CUDA=OFF and check that `rnnx info` says the GPU engines are not built.
#
# Inputs (-D): BINARY_DIR (this build), SOURCE_DIR (the repository), WORK_DIR (scratch),
#              GENERATOR, BUILD_TYPE, CPU_ONLY (ON to run the RNNX_CUDA=OFF part),
#              GPU_MODULE (the GPU module's file name when this build has CUDA, else empty).

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
set(expected_files include/rnnx/rnnx.h include/rnnx/version.h lib/cmake/rnnx/rnnxConfig.cmake
                   bin/rnnx)
if(GPU_MODULE)
  list(APPEND expected_files lib/${GPU_MODULE})
endif()
foreach(expected ${expected_files})
  if(NOT EXISTS "${prefix}/${expected}")
    message(FATAL_ERROR "cmake --install did not install ${expected}")
  endif()
endforeach()
# The seed notebook's models stay out of the installed library.
if(EXISTS "${prefix}/include/rnnx/seed_models.h")
  message(FATAL_ERROR "cmake --install installed include/rnnx/seed_models.h")
endif()
if(GPU_MODULE)
  # The installed CLI finds the module in bin/../lib.
  run_step("installed rnnx info" "${prefix}/bin/rnnx" info)
  if(NOT step_output MATCHES "GPU module: ${prefix}/lib/${GPU_MODULE} ")
    message(FATAL_ERROR "the installed rnnx info did not load ${prefix}/lib/${GPU_MODULE}:\n${step_output}")
  endif()
endif()

run_step("configuring the consumer" ${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/package/consumer"
         -B "${WORK_DIR}/consumer" -G "${GENERATOR}" -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
         "-DCMAKE_PREFIX_PATH=${prefix}")
run_step("building the consumer" ${CMAKE_COMMAND} --build "${WORK_DIR}/consumer")
run_step("running the consumer" "${WORK_DIR}/consumer/consumer")
message(STATUS "${step_output}")
if(NOT step_output MATCHES "consumer: rnnx")
  message(FATAL_ERROR "the consumer printed no result")
endif()
# The consumer linked rnnx::rnnx only; the package's run path led librnnx to the GPU module.
if(GPU_MODULE AND NOT step_output MATCHES "GPU module \\[${prefix}/lib/${GPU_MODULE}\\] problem \\[\\]")
  message(FATAL_ERROR "the consumer did not load ${prefix}/lib/${GPU_MODULE}:\n${step_output}")
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
