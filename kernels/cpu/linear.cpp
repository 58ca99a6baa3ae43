#include "kernels/cpu/linear.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice::cpu {
namespace {

using dnnl::memory;

dnnl::engine& cpu_engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

// oneDNN streams are not to be shared between threads; each caller thread
// gets its own (cheap: a CPU stream is a thin object).
dnnl::stream& thread_stream() {
  thread_local dnnl::stream s(cpu_engine());
  return s;
}

void check(dnnl_status_t st, const char* what) {
  if (st != dnnl_success) throw std::runtime_error(std::string("oneDNN: ") + what + " failed (status " + std::to_string(st) + ")");
}

dnnl::algorithm eltwise_for(engine::Activation a) {
  switch (a) {
    case engine::Activation::kGeluErf: return dnnl::algorithm::eltwise_gelu_erf;
    case engine::Activation::kGeluTanh: return dnnl::algorithm::eltwise_gelu_tanh;
    case engine::Activation::kRelu: return dnnl::algorithm::eltwise_relu;
    case engine::Activation::kTanh: return dnnl::algorithm::eltwise_tanh;
    case engine::Activation::kIdentity: break;
  }
  return dnnl::algorithm::undef;
}

}  // namespace

struct Linear::Impl {
  dnnl::matmul prim;
  memory weights;  // packed
  memory bias;     // may be empty
  memory scratch;  // user-managed scratchpad
  std::vector<float> bias_copy;
  std::size_t bytes = 0;
};

Linear::Linear() = default;
Linear::Linear(Linear&&) noexcept = default;
Linear& Linear::operator=(Linear&&) noexcept = default;
Linear::~Linear() = default;

Linear::Linear(const float* weight, const float* bias, int64_t out_features, int64_t in_features,
               engine::Activation fused_act)
    : impl_(std::make_unique<Impl>()), in_(in_features), out_(out_features) {
  auto& eng = cpu_engine();
  const memory::dim R = DNNL_RUNTIME_DIM_VAL;
  const memory::dim K = in_features, N = out_features;
  memory::desc src_md({R, K}, memory::data_type::f32, memory::dims{R, 1});
  memory::desc wei_md({K, N}, memory::data_type::f32, memory::format_tag::any);
  memory::desc dst_md({R, N}, memory::data_type::f32, memory::dims{R, 1});
  memory::desc bias_md({1, N}, memory::data_type::f32, memory::format_tag::ab);

  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (fused_act != engine::Activation::kIdentity) {
    dnnl::post_ops po;
    po.append_eltwise(1.f, eltwise_for(fused_act), 0.f, 0.f);
    attr.set_post_ops(po);
  }
  auto desc = bias ? dnnl::matmul::desc(src_md, wei_md, bias_md, dst_md)
                   : dnnl::matmul::desc(src_md, wei_md, dst_md);
  dnnl::matmul::primitive_desc pd(desc, attr, eng);
  impl_->prim = dnnl::matmul(pd);

  // W is [N, K] row-major = [K, N] with strides {1, K} ("ba"): reorder into
  // the layout the primitive chose.
  memory wsrc({{K, N}, memory::data_type::f32, memory::format_tag::ba}, eng,
              const_cast<float*>(weight));
  impl_->weights = memory(pd.weights_desc(), eng);
  dnnl::reorder(wsrc, impl_->weights).execute(thread_stream(), wsrc, impl_->weights);
  thread_stream().wait();
  impl_->bytes = pd.weights_desc().get_size();
  if (bias) {
    impl_->bias_copy.assign(bias, bias + N);
    impl_->bias = memory(bias_md, eng, impl_->bias_copy.data());
    impl_->bytes += sizeof(float) * N;
  }
  impl_->scratch = memory(pd.scratchpad_desc(), eng);
  impl_->bytes += pd.scratchpad_desc().get_size();
}

void Linear::run(const float* x, int64_t ld_x, int64_t rows, float* y, int64_t ld_y) const {
  if (rows <= 0) return;
  // Per call only the two activation handles are made (small objects, the
  // data stays the caller's); primitive and weights are reused.
  dnnl_memory_desc_t src_md, dst_md;
  const dnnl_dims_t src_dims = {rows, in_}, src_strides = {ld_x, 1};
  const dnnl_dims_t dst_dims = {rows, out_}, dst_strides = {ld_y, 1};
  check(dnnl_memory_desc_init_by_strides(&src_md, 2, src_dims, dnnl_f32, src_strides), "src desc");
  check(dnnl_memory_desc_init_by_strides(&dst_md, 2, dst_dims, dnnl_f32, dst_strides), "dst desc");
  dnnl_memory_t src = nullptr, dst = nullptr;
  const dnnl_engine_t eng = cpu_engine().get();
  check(dnnl_memory_create(&src, &src_md, eng, const_cast<float*>(x)), "src memory");
  check(dnnl_memory_create(&dst, &dst_md, eng, y), "dst memory");
  dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, src},
                             {DNNL_ARG_WEIGHTS, impl_->weights.get()},
                             {DNNL_ARG_DST, dst},
                             {DNNL_ARG_SCRATCHPAD, impl_->scratch.get()},
                             {DNNL_ARG_BIAS, nullptr}};
  int nargs = 4;
  if (impl_->bias) args[nargs++].memory = impl_->bias.get();
  dnnl_stream_t stream = thread_stream().get();
  const dnnl_status_t st = dnnl_primitive_execute(impl_->prim.get(), stream, nargs, args);
  dnnl_stream_wait(stream);
  dnnl_memory_destroy(src);
  dnnl_memory_destroy(dst);
  check(st, "matmul");
}

std::size_t Linear::bytes() const { return impl_ ? impl_->bytes : 0; }

const char* gemm_library_description() {
  static const std::string d = [] {
    const dnnl_version_t* v = dnnl_version();
    std::string isa;
    switch (dnnl::get_effective_cpu_isa()) {
      case dnnl::cpu_isa::avx512_core_amx: isa = "avx512_core_amx"; break;
      case dnnl::cpu_isa::avx512_core_bf16: isa = "avx512_core_bf16"; break;
      case dnnl::cpu_isa::avx512_core_vnni: isa = "avx512_core_vnni"; break;
      case dnnl::cpu_isa::avx512_core: isa = "avx512_core"; break;
      case dnnl::cpu_isa::avx2_vnni: isa = "avx2_vnni"; break;
      case dnnl::cpu_isa::avx2: isa = "avx2"; break;
      default: isa = "other"; break;
    }
    return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
           std::to_string(v->patch) + " (" + isa + ")";
  }();
  return d.c_str();
}

}  // namespace sluice::cpu
