#include "fused/reserve.h"

#include <climits>
#include <string>

#include "rnnx/error.h"

namespace rnnx::fused {

std::size_t reserve_elements(const Model& model, int T, int B, std::vector<LayerOffsets>* map) {
  const std::size_t tb = std::size_t(T) * B;
  std::size_t at = 0;
  const int L = static_cast<int>(model.layers.size());
  for (int l = 0; l < L; ++l) {
    const Layer& layer = model.layers[l];
    LayerOffsets o;
    o.out = at;
    if (l + 1 < L) at += tb * output_size(layer);
    const CellTraits traits = cell_traits(layer);
    for (int d = 0; d < directions(layer); ++d) {
      DirOffsets& dir = o.dir[d];
      dir.gates = at;
      at += tb * traits.gates * layer.hidden;
      dir.h_prev = at;
      at += tb * layer.hidden;
      if (traits.has_c) {
        dir.c_prev = at;
        at += tb * layer.hidden;
      }
      if (traits.saves_hn) {
        dir.hn = at;
        at += tb * layer.hidden;
      }
    }
    if (map != nullptr) map->push_back(o);
  }
  return at;
}

void check_gemm_limits(int steps, int batch, Engine engine) {
  const long long rows = static_cast<long long>(steps) * batch;
  if (rows > INT_MAX) {
    throw Error(Status::unsupported, "Forward.steps * Forward.batch = " + std::to_string(rows) +
                                         ": the " + to_string(engine) +
                                         " engine's GEMMs take at most 2^31 - 1 rows; split the " +
                                         "batch, or use cpu_reference");
  }
}

void scratch_sizes(const Model& model, int T, int B, ScratchSizes& sizes) {
  for (std::size_t& n : sizes) n = 0;
  auto grow = [&](Slot slot, std::size_t n) {
    std::size_t& current = sizes[static_cast<int>(slot)];
    if (n > current) current = n;
  };
  const std::size_t tb = std::size_t(T) * B;
  for (int l = 0; l < static_cast<int>(model.layers.size()); ++l) {
    const Layer& layer = model.layers[l];
    const std::size_t H = layer.hidden, GH = cell_traits(layer).gates * H;
    const std::size_t state = std::size_t(B) * H;
    for (Slot slot : {Slot::proj, Slot::dzx}) grow(slot, tb * GH);
    if (h_side_gradients_apart(cell_kind(layer))) grow(Slot::dzh, tb * GH);
    for (Slot slot : {Slot::rec, Slot::dz_step}) grow(slot, std::size_t(B) * GH);
    for (Slot slot : {Slot::h, Slot::c, Slot::r, Slot::rh, Slot::dh_step, Slot::dh_direct}) {
      grow(slot, state);
    }
    grow(Slot::bias, GH);
    grow(Slot::rh_all, tb * H);
    for (Slot slot : {Slot::layer_out_a, Slot::layer_out_b}) grow(slot, tb * output_size(layer));
    for (Slot slot : {Slot::grad_a, Slot::grad_b}) grow(slot, tb * layer_input_size(model, l));
    grow(Slot::ones, tb);
  }
}

}  // namespace rnnx::fused
