// Compiled with -mavx512f (src/CMakeLists.txt) and nothing but the cell math on Lanes16 in it:
// see src/cpu/lanes16.h for why nothing else may be instantiated here.
#include "cpu/gates16_math.h"
#include "cpu/lanes16.h"

namespace rnnx::cpu::avx512 {

extern const Gates16 gates16_table;
const Gates16 gates16_table = gates_math::gates16<Lanes16>();

}  // namespace rnnx::cpu::avx512
