#include "gpu/persistent_setup.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "gpu/cuda_check.h"
#include "gpu/plan_support.h"
#include "rnnx/error.h"

namespace rnnx {

namespace {

using gpu::DeviceGuard;
using gpu::GridBarrier;

// ---- options

// One option as the plan uses it: the environment variable `variable`, where set and not empty,
// overrides the option's value (parsed by `parse`, the option's own names).
template <class E>
PersistentSetting<E> setting(E option, const char* option_name, const char* variable,
                             E (*parse)(std::string_view)) {
  PersistentSetting<E> s;
  s.value = option;
  s.set_by = std::string("Options.persistent.") + option_name + " = " + to_string(option);
  const char* v = std::getenv(variable);
  if (v == nullptr || *v == '\0') return s;
  try {
    s.value = parse(v);
  } catch (const Error& e) {
    throw Error(Status::invalid_argument, std::string(variable) + " = '" + v + "': " + e.what());
  }
  s.set_by = std::string(variable) + "=" + v;
  return s;
}

PersistentSetting<PersistentBarrier> barrier_setting(PersistentBarrier option) {
  return setting(option, "barrier", "RNNX_PERSISTENT_BARRIER", &parse_persistent_barrier);
}

// ---- the grid barrier

// The faster of the two grid barriers on a device, measured once per device and process: a grid
// of one block per multiprocessor meets each barrier kProbeSteps times (as the engine's kernel
// does once or twice a step), best of three runs each, timed with CUDA events.
GridBarrier measured_barrier(const PersistentDevice& d) {
  static std::mutex mutex;
  static std::map<int, GridBarrier> chosen;
  const std::lock_guard<std::mutex> lock(mutex);
  const auto known = chosen.find(d.index);
  if (known != chosen.end()) return known->second;
  constexpr int kProbeSteps = 200;
  const DeviceGuard guard(d.index);
  struct Probe {  // released on every path out
    cudaStream_t stream = nullptr;
    cudaEvent_t start = nullptr, stop = nullptr;
    unsigned* words = nullptr;
    ~Probe() {
      if (words != nullptr) cudaFree(words);
      if (start != nullptr) cudaEventDestroy(start);
      if (stop != nullptr) cudaEventDestroy(stop);
      if (stream != nullptr) cudaStreamDestroy(stream);
    }
  } p;
  RNNX_CUDA_CHECK(cudaStreamCreateWithFlags(&p.stream, cudaStreamNonBlocking));
  RNNX_CUDA_CHECK(cudaEventCreate(&p.start));
  RNNX_CUDA_CHECK(cudaEventCreate(&p.stop));
  RNNX_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p.words), 2 * sizeof(unsigned)));
  float best[2] = {std::numeric_limits<float>::max(), std::numeric_limits<float>::max()};
  for (int run = 0; run < 3; ++run) {
    for (int k = 0; k < 2; ++k) {
      const GridBarrier barrier = k == 0 ? GridBarrier::cooperative : GridBarrier::flags;
      RNNX_CUDA_CHECK(cudaMemsetAsync(p.words, 0, 2 * sizeof(unsigned), p.stream));
      RNNX_CUDA_CHECK(cudaEventRecord(p.start, p.stream));
      RNNX_CUDA_CHECK(
          gpu::launch_barrier_only(barrier, d.multiprocessors, kProbeSteps, p.words, p.stream));
      RNNX_CUDA_CHECK(cudaEventRecord(p.stop, p.stream));
      RNNX_CUDA_CHECK(cudaEventSynchronize(p.stop));
      float ms = 0;
      RNNX_CUDA_CHECK(cudaEventElapsedTime(&ms, p.start, p.stop));
      best[k] = std::min(best[k], ms);
    }
  }
  const GridBarrier faster = best[1] < best[0] ? GridBarrier::flags : GridBarrier::cooperative;
  chosen[d.index] = faster;
  return faster;
}

// ---- limits

// The kind whose limits info.h's queries report for (cell, reset). Both activations of the vanilla
// RNN have the same shared-memory layout and kernel shape, hence the same limits: tanh answers
// for both.
CellKind limit_kind(Cell cell, GruReset reset) {
  Layer layer;
  layer.cell = cell;
  layer.gru_reset = reset;
  layer.activation = Activation::tanh;
  return cell_kind(layer);
}

// The largest value in [1, hi] for which fits(v) holds, 0 if none (fits is monotone).
template <class Fits>
int largest(int hi, Fits fits) {
  int lo = 0;
  while (lo < hi) {
    const int mid = lo + (hi - lo + 1) / 2;
    if (fits(mid)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// The largest value in [1, hi] at which a layer of `cell` fits on `device` (fits_at(d, v) for the
// device's properties d), 0 if none or when nothing can be said (no device).
template <class FitsAt>
int limit(CellKind cell, int device, DType dtype, GridBarrier barrier, int hi, FitsAt fits_at) {
  try {
    const PersistentDevice d = persistent_device(device);
    const DeviceGuard guard(device);
    prepare_persistent_kernel_for(cell, barrier, dtype, d);
    return largest(hi, [&](int v) { return fits_at(d, v); });
  } catch (const Error&) {
    return 0;  // documented: 0 when nothing can be said
  }
}

// The barrier a plan with default options uses on `device`: RNNX_PERSISTENT_BARRIER's, else
// measured.
GridBarrier default_barrier(int device) {
  return persistent_grid_barrier(barrier_setting(PersistentOptions{}.barrier).value,
                                 persistent_device(device));
}

}  // namespace

PersistentSettings persistent_settings(const PersistentOptions& options) {
  PersistentSettings s;
  s.barrier = barrier_setting(options.barrier);
  s.tensor_cores = setting(options.tensor_cores, "tensor_cores", "RNNX_PERSISTENT_MMA",
                           &parse_persistent_tensor_cores);
  s.directions = setting(options.directions, "directions", "RNNX_PERSISTENT_DIRECTIONS",
                         &parse_persistent_directions);
  return s;
}

PersistentDevice persistent_device(int index) {
  PersistentDevice d;
  d.index = index;
  cudaDeviceProp prop{};
  RNNX_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  d.multiprocessors = prop.multiProcessorCount;
  d.shared_optin = prop.sharedMemPerBlockOptin;
  d.name = prop.name;
  return d;
}

GridBarrier persistent_grid_barrier(PersistentBarrier setting, const PersistentDevice& d) {
  switch (setting) {
    case PersistentBarrier::automatic:
      return measured_barrier(d);
    case PersistentBarrier::cooperative:
      return GridBarrier::cooperative;
    case PersistentBarrier::flags:
      return GridBarrier::flags;
  }
  throw Error(Status::invalid_argument,
              "Options.persistent.barrier = " + std::to_string(static_cast<int>(setting)) +
                  ": not one of auto, cooperative, flags");
}

int persistent_units_per_block(int H, int directions, const PersistentDevice& d) {
  const int sms = std::max(1, d.multiprocessors / directions);
  return (H + sms - 1) / sms;
}

PersistentFit persistent_fit(CellKind cell, DType storage, GridBarrier barrier, int H, int B,
                             const PersistentDevice& d, int directions, bool mma) {
  PersistentFit f;
  f.directions = directions;
  f.mma = mma;
  f.units = persistent_units_per_block(H, directions, d);
  f.blocks = directions * ((H + f.units - 1) / f.units);
  f.shared = gpu::persistent_shared_bytes(cell, storage, H, f.units, B, mma);
  if (f.shared > d.shared_optin) {
    f.why = "a block needs " + std::to_string((f.shared + 1023) / 1024) +
            " KB of shared memory for its " + std::to_string(f.units) +
            " units' W_h rows and the batch's h, the device allows " +
            std::to_string(d.shared_optin / 1024) + " KB";
    return f;
  }
  int per_sm = 0;
  RNNX_CUDA_CHECK(gpu::persistent_blocks_per_sm(cell, barrier, storage, f.shared, &per_sm));
  if (per_sm * d.multiprocessors < f.blocks) {
    f.why = std::to_string(f.blocks) + " blocks cannot all be resident (" + std::to_string(per_sm) +
            " per multiprocessor x " + std::to_string(d.multiprocessors) + ")";
  }
  return f;
}

PersistentFit persistent_fit_frugal(CellKind cell, DType storage, GridBarrier barrier, int H, int B,
                                    const PersistentDevice& d) {
  return persistent_fit(cell, storage, barrier, H, B, d, 1, false);
}

void prepare_persistent_kernel_for(CellKind cell, GridBarrier barrier, DType storage,
                                   const PersistentDevice& d) {
  RNNX_CUDA_CHECK(gpu::prepare_persistent_kernel(cell, barrier, storage, d.shared_optin));
}

std::string persistent_no_tensor_cores(CellKind cell, GridBarrier barrier, DType storage, int H) {
  if (storage == DType::f32) return "float32 weights";
  switch (cell) {
    case CellKind::lstm:
    case CellKind::gru_reset_after:
    case CellKind::rnn_tanh:
    case CellKind::rnn_relu:
      break;
    case CellKind::gru_reset_before:
      return "a GRU resetting before the matmul";
  }
  if (H % 16 != 0) return "hidden " + std::to_string(H) + " is not a multiple of 16";
  if (!gpu::persistent_mma_possible(cell, barrier, storage, H)) {
    return "the kernel was compiled for an architecture before sm_80";
  }
  return {};
}

PersistentLayerChoice choose_persistent_layout(const PersistentLayerInputs& in,
                                               const PersistentLayoutCheck& check) {
  const PersistentTensorCores tensor_cores = in.tensor_cores.value;
  const bool forced = tensor_cores == PersistentTensorCores::on;
  bool may_pair = false;
  switch (in.directions.value) {
    case PersistentDirections::paired:
      may_pair = true;
      break;
    case PersistentDirections::apart:
      break;
  }
  const bool pair = in.bidirectional && may_pair;
  auto mma_allowed = [&](int directions) {
    return in.no_mma.empty() && tensor_cores != PersistentTensorCores::off &&
           (forced || !in.few_tiles[directions - 1]);
  };
  std::string why[2][2];
  bool asked[2][2] = {};
  auto why_not = [&](int directions, bool mma) -> const std::string& {
    if (!asked[directions - 1][mma]) {
      why[directions - 1][mma] = check(directions, mma);
      asked[directions - 1][mma] = true;
    }
    return why[directions - 1][mma];
  };
  struct Candidate {
    int directions;
    bool mma;
  };
  const Candidate order[2][4] = {{{2, true}, {2, false}, {1, true}, {1, false}},
                                 {{2, true}, {1, true}, {2, false}, {1, false}}};
  PersistentLayerChoice c;
  for (const Candidate& layout : order[forced]) {
    if ((layout.directions == 2 && !pair) || (layout.mma && !mma_allowed(layout.directions))) {
      continue;
    }
    if (why_not(layout.directions, layout.mma).empty()) {
      c.directions = layout.directions;
      c.mma = layout.mma;
      break;
    }
  }
  if (c.directions == 0) {
    c.why = why_not(1, false);
    c.note = "does not fit: " + c.why;
    return c;
  }
  c.note = c.mma ? "tensor cores" : "warp dot products";
  if (in.bidirectional) {
    c.note += c.directions == 2 ? ", both directions in one grid" : ", one grid per direction";
  }
  std::string reasons;
  auto add = [&](const std::string& reason) { reasons += (reasons.empty() ? "" : "; ") + reason; };
  if (!c.mma) {
    if (!in.no_mma.empty()) {
      add("no tensor cores for " + in.no_mma);
    } else if (tensor_cores == PersistentTensorCores::off) {
      add(in.tensor_cores.set_by);
    } else if (!mma_allowed(c.directions)) {
      add("fewer than " + std::to_string(kPersistentMmaMinTiles) +
          " tiles of 16x16 a block for tensor cores");
    } else {
      add("with tensor cores, " + why_not(c.directions, true));
    }
  }
  if (in.bidirectional && c.directions == 1) {
    if (!may_pair) {
      add(in.directions.set_by);
    } else if (forced && c.mma) {
      add("in one grid with tensor cores, " + why_not(2, true));
      add(in.tensor_cores.set_by + " puts tensor cores before pairing");
    } else {
      add("in one grid, " + why_not(2, false));
    }
  }
  if (!reasons.empty()) c.note += " (" + reasons + ")";
  return c;
}

PersistentLayouts persistent_layouts(const Model& model, int batch,
                                     const PersistentSettings& settings,
                                     const std::vector<std::string>& no_mma, GridBarrier barrier,
                                     const PersistentDevice& d) {
  PersistentLayouts out;
  for (int l = 0; l < static_cast<int>(model.layers.size()); ++l) {
    const Layer& layer = model.layers[l];
    const CellKind cell = cell_kind(layer);
    PersistentLayerInputs in;
    in.tensor_cores = settings.tensor_cores;
    in.directions = settings.directions;
    in.bidirectional = layer.bidirectional;
    in.no_mma = no_mma[l];
    PersistentFit tried[2][2];  // [directions - 1][mma], as the choice asked
    for (int k = 1; k <= 2; ++k) {
      const int units = persistent_units_per_block(layer.hidden, k, d);
      const int rows = (cell_traits(cell).gates * units + 15) / 16;
      in.few_tiles[k - 1] = rows * ((batch + 15) / 16) < kPersistentMmaMinTiles;
    }
    const PersistentLayerChoice choice = choose_persistent_layout(in, [&](int directions,
                                                                          bool use_mma) {
      PersistentFit& f = tried[directions - 1][use_mma];
      f = persistent_fit(cell, model.dtype, barrier, layer.hidden, batch, d, directions, use_mma);
      return f.why;
    });
    // Nothing fits: the most frugal layout, whose `why` the call reports.
    out.fits.push_back(choice.directions == 0 ? tried[0][0]
                                              : tried[choice.directions - 1][choice.mma]);
    out.notes.push_back("layer " + std::to_string(l) + ": " + choice.note);
  }
  return out;
}

int persistent_hidden_limit(CellKind cell, int batch, int device, DType dtype,
                            GridBarrier barrier) {
  return limit(cell, device, dtype, barrier, 1 << 16, [&](const PersistentDevice& d, int H) {
    return persistent_fit_frugal(cell, dtype, barrier, H, batch, d).why.empty();
  });
}

int persistent_batch_limit(CellKind cell, int hidden, int device, DType dtype,
                           GridBarrier barrier) {
  return limit(cell, device, dtype, barrier, 1 << 20, [&](const PersistentDevice& d, int B) {
    return persistent_fit_frugal(cell, dtype, barrier, hidden, B, d).why.empty();
  });
}

int persistent_limit_hidden(Cell cell, GruReset reset, int batch, int device, DType dtype) {
  try {
    return persistent_hidden_limit(limit_kind(cell, reset), batch, device, dtype,
                                   default_barrier(device));
  } catch (const Error&) {
    return 0;
  }
}

int persistent_limit_batch(Cell cell, GruReset reset, int hidden, int device, DType dtype) {
  try {
    return persistent_batch_limit(limit_kind(cell, reset), hidden, device, dtype,
                                  default_barrier(device));
  } catch (const Error&) {
    return 0;
  }
}

}  // namespace rnnx
