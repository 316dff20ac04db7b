// gpu_persistent's setup, apart from the plan and its calls (persistent_engine.cpp): its options
// after the environment's overrides, the device's properties, the grid barrier (measured or
// chosen), whether and how each layer fits (one grid per direction or both in one, tensor cores
// or not), and the limits info.h reports.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "kernels/persistent_kernels.h"
#include "rnnx/engine_options.h"
#include "rnnx/model.h"

namespace rnnx {

// ---- options ----------------------------------------------------------------------------------

// One of gpu_persistent's options as the plan uses it, and what set it, for PlanStats's notes:
// "RNNX_PERSISTENT_MMA=off" (the environment) or "Options.persistent.tensor_cores = off".
template <class E>
struct PersistentSetting {
  E value{};
  std::string set_by;
};

struct PersistentSettings {
  PersistentSetting<PersistentBarrier> barrier;
  PersistentSetting<PersistentTensorCores> tensor_cores;
  PersistentSetting<PersistentDirections> directions;
};

// `options` with RNNX_PERSISTENT_BARRIER, RNNX_PERSISTENT_MMA and RNNX_PERSISTENT_DIRECTIONS
// overriding them where set and not empty (docs/ENVIRONMENT.md). A value outside the allowed
// names throws Error(invalid_argument) naming the variable and the names.
PersistentSettings persistent_settings(const PersistentOptions& options);

// ---- the device and its grid barrier ---------------------------------------------------------

struct PersistentDevice {
  int index = 0, multiprocessors = 0;
  std::size_t shared_optin = 0;  // bytes of shared memory one block may ask for
  std::string name;
};
PersistentDevice persistent_device(int index);

// The barrier `setting` names; for `automatic` the faster of the two on the device, measured
// once per device and process.
gpu::GridBarrier persistent_grid_barrier(PersistentBarrier setting, const PersistentDevice& d);

// ---- how a layer fits -------------------------------------------------------------------------

// Tensor cores for the recurrent product of bf16/f16 models (where persistent_mma_possible):
// `automatic` uses them when a step has at least this many 16x16 tiles of z per block, so that
// several warps share the work (one warp alone running H/16 MMAs in a row is likely slower than
// eight warps of dot products: a guess until measured on a GPU); `on` wherever possible and they
// fit, `off` never (both for measuring one path against the other).
constexpr int kPersistentMmaMinTiles = 4;

// How one layer of H units runs for a batch of B in one layout: one block per multiprocessor at
// most, each owning `units` units, for one direction per launch or both in one grid (each
// direction then gets half the multiprocessors), on tensor cores or not; or why it cannot.
struct PersistentFit {
  int directions = 1;  // directions per launch
  int units = 0, blocks = 0;
  bool mma = false;  // the recurrent product on tensor cores
  std::size_t shared = 0;
  std::string why;  // empty when it fits
};

// The units a block owns: H over the multiprocessors, half of them per direction when both
// directions share the grid.
int persistent_units_per_block(int H, int directions, const PersistentDevice& d);

// One layout's fit. The kernel must have been prepared on the device
// (prepare_persistent_kernel_for).
PersistentFit persistent_fit(CellKind cell, DType storage, gpu::GridBarrier barrier, int H, int B,
                             const PersistentDevice& d, int directions, bool mma);

// Whether the layer runs at all: one direction per launch without tensor cores is the most
// frugal layout (tensor cores' padding and 16-bit copy of h take more shared memory), and its
// "fits" is monotone in H and B, as the limit searches need.
PersistentFit persistent_fit_frugal(CellKind cell, DType storage, gpu::GridBarrier barrier, int H,
                                    int B, const PersistentDevice& d);

// The kernel's dynamic shared-memory ceiling on the current device: once per plan and kernel.
void prepare_persistent_kernel_for(CellKind cell, gpu::GridBarrier barrier, DType storage,
                                   const PersistentDevice& d);

// Why a layer's recurrent product cannot run on tensor cores at all; empty when it can.
std::string persistent_no_tensor_cores(CellKind cell, gpu::GridBarrier barrier, DType storage,
                                       int H);

// ---- the choice of a layer's layout (a pure function: tests/test_persistent_layout.cpp) --------

struct PersistentLayerInputs {
  PersistentSetting<PersistentTensorCores> tensor_cores;
  PersistentSetting<PersistentDirections> directions;
  bool bidirectional = false;
  std::string no_mma;      // why tensor cores cannot run this layer at all; empty if they can
  bool few_tiles[2] = {};  // [directions - 1]: fewer than kPersistentMmaMinTiles tiles a block
};

struct PersistentLayerChoice {
  int directions = 0;  // per launch: 1, or 2 (both directions in one grid); 0: nothing fits
  bool mma = false;    // the recurrent product on tensor cores
  std::string why;     // directions 0: why the most frugal layout does not fit
  std::string note;    // how it runs and what it did not get, and why (PlanStats's layer_choices)
};

// Why a layout (directions per launch, tensor cores or not) cannot run: shared memory over the
// device's limit, a grid that cannot be resident; empty when it can. Asked at most once each.
using PersistentLayoutCheck = std::function<std::string(int directions, bool mma)>;

// The layouts in order of preference, the first that fits running: tensor cores where allowed
// (not `off`, possible, and under `automatic` enough tiles a block) and both directions of a
// bidirectional layer in one grid. `automatic` prefers pairing to tensor cores (one launch and
// one barrier a step for both directions), `on` tensor cores to pairing (a forced choice is for
// measuring them, so it must not lose them silently to pairing).
PersistentLayerChoice choose_persistent_layout(const PersistentLayerInputs& in,
                                               const PersistentLayoutCheck& check);

// How every layer of `model` runs at `batch` on the device: per layer its fit (when nothing fits,
// the most frugal layout's, whose `why` says so) and a note "layer l: ..." (PlanStats's
// layer_choices). `no_mma`: persistent_no_tensor_cores of each layer.
struct PersistentLayouts {
  std::vector<PersistentFit> fits;
  std::vector<std::string> notes;
};
PersistentLayouts persistent_layouts(const Model& model, int batch,
                                     const PersistentSettings& settings,
                                     const std::vector<std::string>& no_mma,
                                     gpu::GridBarrier barrier, const PersistentDevice& d);

// ---- limits -----------------------------------------------------------------------------------

// The largest hidden size (at `batch`) and the largest batch (at `hidden`) with which a layer of
// `cell` runs at all on `device` with `barrier`; 0 when none does or nothing can be said.
int persistent_hidden_limit(CellKind cell, int batch, int device, DType dtype,
                            gpu::GridBarrier barrier);
int persistent_batch_limit(CellKind cell, int hidden, int device, DType dtype,
                           gpu::GridBarrier barrier);

// info.h's persistent_max_hidden / persistent_max_batch on device `device`, with the barrier a
// plan made with default options would use.
int persistent_limit_hidden(Cell cell, GruReset reset, int batch, int device, DType dtype);
int persistent_limit_batch(Cell cell, GruReset reset, int hidden, int device, DType dtype);

}  // namespace rnnx
