// make_gpu_trainer in a build without CUDA (RNNX_CUDA=OFF).
#include "trainer.h"

namespace seed {

std::unique_ptr<Trainer> make_gpu_trainer(const rnnx::Model&, rnnx::Engine engine, const Dataset&,
                                          const Hyper&) {
  throw rnnx::Error(rnnx::Status::not_built,
                    std::string("engine ") + rnnx::to_string(engine) +
                        ": this build of rnnx has no CUDA (RNNX_CUDA=OFF); use --engine cpu");
}

}  // namespace seed
