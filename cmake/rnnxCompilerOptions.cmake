# Warning flags for rnnx's own targets (never forced on consumers), and the sanitizers of
# RNNX_SANITIZE (below) when it names any.
function(rnnx_target_warnings target)
  set(host_flags -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion)
  if(RNNX_WERROR)
    list(APPEND host_flags -Werror)
  endif()
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${host_flags}>)
  if(RNNX_CUDA)
    string(REPLACE ";" "," cuda_host_flags "-Wall;-Wextra")
    set(cuda_flags -Xcompiler=${cuda_host_flags})
    if(RNNX_WERROR)
      list(APPEND cuda_flags -Werror=all-warnings)
    endif()
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:${cuda_flags}>)
  endif()
  rnnx_target_sanitize(${target})
endfunction()

# RNNX_SANITIZE: sanitizers for rnnx's own targets (library, CLI, tests, examples, benchmarks),
# e.g. "address,undefined" for AddressSanitizer (and LeakSanitizer) plus
# UndefinedBehaviorSanitizer; empty (the default) for none. A finding stops the program
# (-fno-sanitize-recover=all). CPU-only: nvcc and the CUDA runtime do not mix with ASan here,
# and the Python extension would need libasan preloaded into python, so both are refused.
# scripts/common.sh (sanitizer_tests) builds and runs the tests this way in CI.
# "thread" (ThreadSanitizer) needs Clang: the cpu engine's threads are OpenMP's, and with Clang
# FindOpenMP takes LLVM's libomp, whose Archer tool (OMP_TOOL_LIBRARIES=.../libarcher.so) tells
# TSan about OpenMP's synchronization; GCC's libgomp is not instrumented and would give false
# reports. scripts/tsan.sh builds (CXX=clang++-14) and runs the threaded tests this way in CI.
set(RNNX_SANITIZE "" CACHE STRING
    "Sanitizers for rnnx's own targets, e.g. address,undefined (CPU-only builds); empty for none")
if(NOT RNNX_SANITIZE STREQUAL "")
  if(RNNX_CUDA)
    message(FATAL_ERROR
      "RNNX_SANITIZE=${RNNX_SANITIZE} needs a CPU-only build: configure with -DRNNX_CUDA=OFF "
      "(nvcc-built code and the CUDA runtime do not work under AddressSanitizer here).")
  endif()
  if(RNNX_BUILD_PYTHON)
    message(FATAL_ERROR
      "RNNX_SANITIZE=${RNNX_SANITIZE} does not build the Python extension (python would need "
      "libasan preloaded): configure with -DRNNX_BUILD_PYTHON=OFF.")
  endif()
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "^(GNU|Clang)$")
    message(FATAL_ERROR "RNNX_SANITIZE needs GCC or Clang (-fsanitize=...), not "
                        "${CMAKE_CXX_COMPILER_ID}.")
  endif()
  if(RNNX_SANITIZE MATCHES "(^|,)thread(,|$)" AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR
      "RNNX_SANITIZE=${RNNX_SANITIZE} needs Clang with libomp (configure with CXX=clang++-14): "
      "GCC's libgomp is not instrumented for ThreadSanitizer and gives false reports.")
  endif()
endif()

function(rnnx_target_sanitize target)
  if(RNNX_SANITIZE STREQUAL "")
    return()
  endif()
  set(flags -fsanitize=${RNNX_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC's manual: sanitizers raise the rate of false -Wmaybe-uninitialized warnings; GCC 12
    # gives them inside libstdc++'s <regex> (std::function in _State). The normal build keeps
    # the warning.
    list(APPEND flags -Wno-maybe-uninitialized)
  endif()
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${flags}>)
  target_link_options(${target} PRIVATE -fsanitize=${RNNX_SANITIZE})
endfunction()
