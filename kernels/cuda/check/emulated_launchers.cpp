// The op launchers (kernels/cuda/*.cu) compiled by the host compiler over
// host_emulation.h: SLUICE_LAUNCH (launch.cuh) then runs each kernel on the
// CPU with the launcher's own grid, block, shared memory and arguments. For
// cuda_emulated_encoder_test, with emulated_runtime.cpp's stand-ins for the
// CUDA runtime calls the launchers make.
#include "kernels/cuda/check/host_emulation.h"
// (the emulation must precede everything CUDA)
#include "kernels/cuda/add_layernorm.cu"
#include "kernels/cuda/attention.cu"
#include "kernels/cuda/attention_tc.cu"
#include "kernels/cuda/bias_activation.cu"
#include "kernels/cuda/classifier_out.cu"
#include "kernels/cuda/embedding_layernorm.cu"
// host_convert.cu copies uint16_t bits into __half/__nv_bfloat16 with
// memcpy on purpose; g++ flags that where nvcc's host pass does not.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wclass-memaccess"
#include "kernels/cuda/host_convert.cu"
#pragma GCC diagnostic pop
#include "kernels/cuda/pooling.cu"
#include "kernels/cuda/softmax.cu"
#include "kernels/cuda/topk.cu"
