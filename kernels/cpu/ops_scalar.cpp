// The fused row kernels compiled for scalar (flags set in CMakeLists.txt).
#define SLUICE_ISA_SCALAR 1
// System headers first: ops_impl.h is included inside a namespace below.
#include <cstdint>
#include <cstring>

#include "kernels/cpu/kernel_table.h"

namespace sluice::cpu {
namespace isa_scalar {  // own namespace: see simd_vec.h on ODR
#include "kernels/cpu/ops_impl.h"
}  // namespace isa_scalar

const KernelTable kScalarKernels = isa_scalar::make_table("scalar");

}  // namespace sluice::cpu
