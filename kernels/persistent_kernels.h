// gpu_persistent's kernel: one cooperative launch runs every step of one layer and direction, or
// of both directions of a bidirectional layer side by side in one grid.
// Each block owns `units` hidden units and keeps their rows of W_h (all gates, so the state
// update stays in the block) in shared memory for the whole sequence; every step it reads the
// whole batch's h_{t-1}, computes its units' gates against the resident rows, updates their state
// with the shared cell math (kernels/cell_math.h), writes its slice of h_t and y_t, and meets the
// grid at a barrier. Weights, inputs and outputs in float32, bfloat16 or float16 (`storage`);
// state, projections and accumulation in float32 (on the tensor-core path, `mma`, h is rounded to
// the 16-bit storage type for the W_h product). Every kind of cell (CellKind): LSTM, both GRUs and
// the vanilla RNN (one gate, h' = act(Wx x + bx + Wh h + bh)). Launchers return the CUDA status.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "rnnx/model.h"

namespace rnnx::gpu {

// The grid barrier: cooperative groups' grid sync, or rnnx's own flag barrier (an arrival
// counter and a generation word, release/acquire through fences).
enum class GridBarrier { cooperative, flags };

constexpr int kPersistentThreads = 256;
// Elements added to every 16-bit row of W_h and h on the tensor-core path (16 bytes: tile rows
// start in different shared-memory banks).
constexpr int kPersistentMmaPad = 8;

// What differs between the two directions of a layer.
struct PersistentDirection {
  Dir dir = Dir::fw;
  const float* proj = nullptr;  // [T][B][G*H] = x Wx^T, biases not included
  const float* bias = nullptr;  // [G*H]: bx + bh (bx alone for the n rows, GRU reset after)
  const float* bhn = nullptr;   // GRU reset after: [H], inside r * (Whn h + bhn); else null
  const void* Wh = nullptr;     // [G*H, H] in the storage type
  float* h[2] = {};             // [B][H] each; h[0] holds the initial state
  const float* c0 = nullptr;    // LSTM: [B][H]
  float* hn = nullptr;          // [B][H] final
  float* cn = nullptr;          // LSTM: [B][H] final
  float* rh = nullptr;          // GRU reset before: [B][H], r * h shared across blocks
  void* y = nullptr;            // storage type; rows (t * B + b) * y_ld, offset to the direction
};

struct PersistentLayerArgs {
  int H = 0, B = 0;
  int steps = 0;             // steps to run: max(len)
  int units = 0;             // hidden units per block; ceil(H / units) blocks per direction
  const int* len = nullptr;  // [B] device
  float forget_bias = 0;
  int y_ld = 0;
  unsigned* barrier = nullptr;  // two words, zero before the launch (flag barrier)
  bool mma = false;             // tensor cores for W_h . h (persistent_mma_possible must hold)
  // 1: d[0] alone; 2: both directions of a bidirectional layer in one grid, meeting at the same
  // barriers (blocks [0, n) d[0], [n, 2n) d[1]).
  int directions = 1;
  PersistentDirection d[2];
};

// One block's shared memory as the kernel lays it out, in bytes from its start (each array
// 128-byte aligned): W_h's rows [rows][ld] in the storage type, the batch's h [B][H] in float32
// (hc), with MMA its 16-bit copy h16 [zld][ld], the gate sums z [rows][zld], and the LSTM's c or
// the reset-before GRU's r [units][B] (state). Without MMA rows = G * units, zld = B and ld = H;
// with it rows and zld are padded to 16 and ld = H + kPersistentMmaPad. The reset-after GRU and
// the vanilla RNN keep no per-unit state (state == total).
struct PersistentSmem {
  std::size_t w = 0, hc = 0, h16 = 0, z = 0, state = 0, total = 0;
  int rows = 0, zld = 0, ld = 0;
};
PersistentSmem persistent_smem(CellKind cell, DType storage, int H, int units, int B, bool mma);

// Shared memory a block needs (bytes): persistent_smem(...).total.
std::size_t persistent_shared_bytes(CellKind cell, DType storage, int H, int units, int B,
                                    bool mma);

// Whether the recurrent product may run on tensor cores (WMMA 16x16x16): 16-bit storage, not the
// reset-before GRU (LSTM, the reset-after GRU and the vanilla RNN may), H a multiple of 16, and the
// kernel that will run compiled for sm_80 or later (its PTX version: a build for an older
// architecture JIT-compiled on a newer GPU has no MMA).
bool persistent_mma_possible(CellKind cell, GridBarrier barrier, DType storage, int H);

// Lets the kernel ask for up to `shared_optin` bytes of shared memory (the device's
// cudaDevAttrMaxSharedMemoryPerBlockOptin) on the current device. Once per plan, for each kernel
// the plan may launch, and before a limit search; the two functions below assume it.
cudaError_t prepare_persistent_kernel(CellKind cell, GridBarrier barrier, DType storage,
                                      std::size_t shared_optin);

// How many blocks of this kernel fit on one multiprocessor with `shared` bytes each.
cudaError_t persistent_blocks_per_sm(CellKind cell, GridBarrier barrier, DType storage,
                                     std::size_t shared, int* blocks);

// A cooperative launch: fails (cudaErrorCooperativeLaunchTooLarge) rather than deadlock when the
// grid cannot be resident at once.
cudaError_t launch_persistent_layer(CellKind cell, GridBarrier barrier, DType storage,
                                    const PersistentLayerArgs& args, cudaStream_t stream);

// out[k] = float(in[k]) for n values of `storage` (bf16 or f16): biases for the float32 math.
cudaError_t widen_to_float(cudaStream_t stream, DType storage, const void* in, std::size_t n,
                           float* out);

// The floors the persistent engine is measured against (bench's `floor` suite): a grid of
// `blocks` x kPersistentThreads that only meets the same grid barrier `steps` times, launched
// cooperatively (`words`: two zeroed words for the flag barrier); and an empty kernel.
cudaError_t launch_barrier_only(GridBarrier barrier, int blocks, int steps, unsigned* words,
                                cudaStream_t stream);
cudaError_t launch_empty(cudaStream_t stream);

}  // namespace rnnx::gpu
