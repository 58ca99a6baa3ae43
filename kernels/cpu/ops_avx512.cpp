// The fused row kernels compiled for avx512 (flags set in CMakeLists.txt).
#define SLUICE_ISA_AVX512 1
// System headers first: ops_impl.h is included inside a namespace below.
#include <cstdint>
#include <cstring>
#include <immintrin.h>

#include "kernels/cpu/kernel_table.h"

namespace sluice::cpu {
namespace isa_avx512 {  // own namespace: see simd_vec.h on ODR
#include "kernels/cpu/ops_impl.h"
}  // namespace isa_avx512

const KernelTable kAvx512Kernels = isa_avx512::make_table("avx512");

}  // namespace sluice::cpu
