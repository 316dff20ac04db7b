#include "fused/reserve.h"

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
    for (int d = 0; d < directions(layer); ++d) {
      DirOffsets& dir = o.dir[d];
      dir.gates = at;
      at += tb * gates(layer.cell) * layer.hidden;
      dir.h_prev = at;
      at += tb * layer.hidden;
      if (layer.cell == Cell::lstm) {
        dir.c_prev = at;
        at += tb * layer.hidden;
      } else if (layer.gru_reset == GruReset::after_matmul) {
        dir.hn = at;
        at += tb * layer.hidden;
      }
    }
    if (map != nullptr) map->push_back(o);
  }
  return at;
}

}  // namespace rnnx::fused
