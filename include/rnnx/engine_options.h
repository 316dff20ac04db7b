// The options of one engine each, held by rnnx::Options (rnn.h): `options.cpu.threads`,
// `options.cudnn.algo`, `options.persistent.barrier`, ... An engine refuses another engine's
// options that differ from their defaults (Status::unsupported, naming the option); `auto` drops
// them for the candidates they do not belong to. Every enum has a to_string and a parse function
// (the inverse, which throws Error(invalid_argument) naming the allowed values).
#pragma once

#include <string_view>

namespace rnnx {

// ---- cpu and cpu_reference --------------------------------------------------------------------

struct CpuOptions {
  // Worker threads of the cpu engine: 0 = the RNNX_NUM_THREADS environment variable, else every
  // core; else 1 to 4096 (the option wins over the variable). cpu_reference is single-threaded
  // and accepts only 0 or 1.
  int threads = 0;
};

// ---- cudnn ------------------------------------------------------------------------------------

// cuDNN's RNN algorithms. Each has cuDNN's own limits (persist_static and persist_static_small_h:
// no float64; persist_static_small_h: hidden up to 192); a model outside them is refused when the
// plan is made, and a shape cuDNN refuses (varied lengths, a batch too large for the chip, ...)
// is refused by the call that first meets it (forward, forward_train, backward, reserve_bytes,
// workspace_bytes or prepare) with Status::unsupported naming the algorithm, before any output
// is written; the plan stays usable.
enum class CudnnAlgo { standard, persist_static, persist_dynamic, persist_static_small_h };
const char* to_string(CudnnAlgo algo) noexcept;  // "standard", "persist_static", ...
CudnnAlgo parse_cudnn_algo(std::string_view name);

struct CudnnOptions {
  CudnnAlgo algo = CudnnAlgo::standard;
};

// ---- gpu_persistent ---------------------------------------------------------------------------
// Each of these has an environment variable that overrides it when set and not empty, for
// measuring one choice against another in a program one does not rebuild (docs/ENVIRONMENT.md):
// RNNX_PERSISTENT_BARRIER, RNNX_PERSISTENT_MMA and RNNX_PERSISTENT_DIRECTIONS, taking the names
// that to_string gives. The plan reads them when it is made.

// How the grid meets once a step: cooperative groups' grid sync, or rnnx's flag barrier.
// `automatic` measures both on the device at the first plan (once per device and process) and
// keeps the faster.
enum class PersistentBarrier { automatic, cooperative, flags };
const char* to_string(PersistentBarrier barrier) noexcept;  // "auto", "cooperative", "flags"
PersistentBarrier parse_persistent_barrier(std::string_view name);

// The recurrent product of bfloat16/float16 models on tensor cores (WMMA 16x16x16, h rounded to
// the 16-bit type): `automatic` where a step has at least 4 tiles of 16x16 per block, and pairing
// the directions of a bidirectional layer comes first; `on` wherever possible, before pairing (a
// forced choice is for measuring them and must not lose them silently); `off` never.
enum class PersistentTensorCores { automatic, on, off };
const char* to_string(PersistentTensorCores tensor_cores) noexcept;  // "auto", "on", "off"
PersistentTensorCores parse_persistent_tensor_cores(std::string_view name);

// Both directions of a bidirectional layer in one grid where they fit (half the multiprocessors
// each, one barrier a step for both), or one launch per direction.
enum class PersistentDirections { paired, apart };
const char* to_string(PersistentDirections directions) noexcept;  // "paired", "apart"
PersistentDirections parse_persistent_directions(std::string_view name);

struct PersistentOptions {
  PersistentBarrier barrier = PersistentBarrier::automatic;
  PersistentTensorCores tensor_cores = PersistentTensorCores::automatic;
  PersistentDirections directions = PersistentDirections::paired;
};

}  // namespace rnnx
