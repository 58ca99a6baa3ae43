#include "kernels/cpu/linear.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <oneapi/dnnl/dnnl.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/ops.h"

namespace sluice::cpu {
namespace {

using dnnl::memory;
using dt = dnnl::memory::data_type;

constexpr int64_t kRowGranule = 16;  // tails are rounded up to this many rows
// Below kRowGranule rows a call runs 1, 2, 4 or 8 rows (the next power of
// two): a batch of one (a recommendation for one user, a short text alone)
// no longer computes 16 rows. The recommendation scorer at batch 1 (d 64, 10k
// items, one thread, scorer_bench) went from 5,050 to 22,524 queries/s.
constexpr int64_t kSmallClasses = 4;  // 1, 2, 4, 8

dnnl::engine& cpu_engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

// oneDNN streams are not to be shared between threads; each caller thread
// gets its own (a CPU stream is a thin object).
dnnl::stream& thread_stream() {
  thread_local dnnl::stream s(cpu_engine());
  return s;
}

void check(dnnl_status_t st, const char* what) {
  if (st != dnnl_success)
    throw std::runtime_error(std::string("oneDNN: ") + what + " failed (status " +
                             std::to_string(st) + ")");
}

dnnl::algorithm eltwise_for(engine::Activation a) {
  switch (a) {
    case engine::Activation::kGeluErf:
      return dnnl::algorithm::eltwise_gelu_erf;
    case engine::Activation::kGeluTanh:
      return dnnl::algorithm::eltwise_gelu_tanh;
    case engine::Activation::kRelu:
      return dnnl::algorithm::eltwise_relu;
    case engine::Activation::kTanh:
      return dnnl::algorithm::eltwise_tanh;
    case engine::Activation::kIdentity:
      break;
  }
  return dnnl::algorithm::undef;
}

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// The rows a call of n rows (1..kChunkRows) runs: 1, 2, 4, 8, then multiples of 16.
int64_t row_class(int64_t n) {
  if (n > kRowGranule / 2) return round_up(n, kRowGranule);
  return static_cast<int64_t>(std::bit_ceil(static_cast<uint64_t>(n)));
}

// The slot of a row class in Impl's primitives and handles: the small
// classes first, then 16, 32, … kChunkRows.
size_t row_slot(int64_t rows) {
  if (rows < kRowGranule) return static_cast<size_t>(std::countr_zero(static_cast<uint64_t>(rows)));
  return static_cast<size_t>(kSmallClasses + rows / kRowGranule - 1);
}

}  // namespace

bool bf16_supported() {
  const auto isa = dnnl::get_effective_cpu_isa();
  return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

bool int8_vnni() {
  const auto isa = dnnl::get_effective_cpu_isa();
  return isa == dnnl::cpu_isa::avx512_core_vnni || isa == dnnl::cpu_isa::avx512_core_bf16 ||
         isa == dnnl::cpu_isa::avx512_core_amx || isa == dnnl::cpu_isa::avx2_vnni;
}

struct Linear::Impl {
  GemmPrecision precision = GemmPrecision::kF32;
  dt src_type = dt::f32;
  memory weights;  // packed
  memory bias;     // may be empty
  std::vector<float> bias_copy;
  // primitives[row_slot(rows)] computes `rows` rows (a row class); the last
  // one is the chunk.
  // src/dst_handles[i] are memory handles of that shape, re-pointed at each
  // call's data (set_data_handle does not allocate).
  std::vector<dnnl::matmul> primitives;
  std::vector<memory> src_handles, dst_handles;
  std::function<dnnl::matmul::primitive_desc(int64_t rows)> make_pd;
  memory scratch;  // user scratchpad, sized for the largest primitive made
  std::size_t scratch_bytes = 0;
  std::vector<uint16_t> src_bf16;  // kBF16: the chunk's input rounded to bf16
  std::vector<int8_t> src_s8;      // kInt8: the chunk's input quantized
  std::vector<float> row_scales;   // kInt8: the chunk's input scales, one per row
  engine::Activation act = engine::Activation::kIdentity;  // kInt8: applied after the GEMM
  std::vector<float> src_pad;                              // kF32: a padded tail's input rows
  std::vector<float> dst_pad;                              // a padded tail's output rows
  std::size_t weight_bytes = 0;

  void grow_scratch(std::size_t bytes) {
    if (bytes <= scratch_bytes && scratch) return;
    scratch_bytes = std::max(bytes, scratch_bytes);
    scratch =
        memory(memory::desc({static_cast<memory::dim>(std::max<std::size_t>(scratch_bytes, 1))},
                            memory::data_type::u8, memory::format_tag::a),
               cpu_engine());
  }

  const dnnl::matmul& primitive(int64_t rows) {
    dnnl::matmul& p = primitives[row_slot(rows)];
    if (!p) {
      const auto pd = make_pd(rows);
      grow_scratch(pd.scratchpad_desc().get_size());
      p = dnnl::matmul(pd);
    }
    return p;
  }

  // The handles for `rows` rows, pointed at src and dst.
  std::pair<dnnl_memory_t, dnnl_memory_t> handles(int64_t rows, int64_t in, int64_t out,
                                                  const void* src, float* dst) {
    const auto i = row_slot(rows);
    memory& s = src_handles[i];
    memory& d = dst_handles[i];
    if (!s) {
      s = memory({{rows, in}, src_type, memory::format_tag::ab}, cpu_engine(), DNNL_MEMORY_NONE);
      d = memory({{rows, out}, memory::data_type::f32, memory::format_tag::ab}, cpu_engine(),
                 DNNL_MEMORY_NONE);
    }
    check(dnnl_memory_set_data_handle(s.get(), const_cast<void*>(src)), "src handle");
    check(dnnl_memory_set_data_handle(d.get(), dst), "dst handle");
    return {s.get(), d.get()};
  }
};

Linear::Linear() = default;
Linear::Linear(Linear&&) noexcept = default;
Linear& Linear::operator=(Linear&&) noexcept = default;
Linear::~Linear() = default;

Linear::Linear(const float* weight, const float* bias, int64_t out_features, int64_t in_features,
               engine::Activation fused_act, GemmPrecision precision)
    : impl_(std::make_unique<Impl>()), in_(in_features), out_(out_features) {
  if (precision == GemmPrecision::kBF16 && !bf16_supported())
    throw std::runtime_error("bf16 GEMMs need a CPU with AMX or AVX512-BF16");
  Impl& m = *impl_;
  const dnnl::engine& eng = cpu_engine();
  m.precision = precision;
  const bool int8 = precision == GemmPrecision::kInt8;
  m.src_type = precision == GemmPrecision::kBF16 ? dt::bf16 : int8 ? dt::s8 : dt::f32;
  m.act = fused_act;
  const memory::dim K = in_features, N = out_features;

  // kInt8: weights to int8 with one scale per output column, now, so that the
  // scales can go into the primitives' (constant) output scales.
  std::vector<int8_t> w_s8;
  std::vector<float> w_scales;
  if (int8) {
    const float qmax = int8_vnni() ? 127.f : 63.f;
    w_s8.resize(static_cast<size_t>(K * N));
    w_scales.resize(static_cast<size_t>(N));
    for (int64_t o = 0; o < N; ++o) {
      const float* row = weight + o * K;
      float amax = 0.f;
      for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::abs(row[k]));
      const float inv = amax > 0.f ? qmax / amax : 0.f;
      w_scales[static_cast<size_t>(o)] = amax > 0.f ? amax / qmax : 1.f;
      for (int64_t k = 0; k < K; ++k)
        w_s8[static_cast<size_t>(o * K + k)] = static_cast<int8_t>(std::nearbyint(row[k] * inv));
    }
  }

  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (int8) attr.set_output_scales(1 << 1, w_scales);
  if (fused_act != engine::Activation::kIdentity && !int8) {
    dnnl::post_ops po;
    po.append_eltwise(1.f, eltwise_for(fused_act), 0.f, 0.f);
    attr.set_post_ops(po);
  }
  const memory::desc bias_md({1, N}, dt::f32, memory::format_tag::ab);
  // Captures by value: tails are made later, from run().
  const bool has_bias = bias != nullptr && !int8;  // kInt8 adds it after the row scales
  const dt src_type = m.src_type;
  auto make_pd = [=](int64_t rows, const memory::desc& wei_md) {
    memory::desc src_md({rows, K}, src_type, memory::format_tag::ab);
    memory::desc dst_md({rows, N}, dt::f32, memory::format_tag::ab);
    auto d = has_bias ? dnnl::matmul::desc(src_md, wei_md, bias_md, dst_md)
                      : dnnl::matmul::desc(src_md, wei_md, dst_md);
    return dnnl::matmul::primitive_desc(d, attr, cpu_engine());
  };
  // The chunk's primitive picks the packed weight layout; every tail size
  // reuses that layout so one packed copy serves all. Tail primitives are
  // made on first use (JIT takes ~ms each; most models never see most sizes).
  const auto chunk_pd = make_pd(
      kChunkRows, memory::desc({K, N}, int8 ? dt::s8 : m.src_type, memory::format_tag::any));
  const memory::desc wei_md = chunk_pd.weights_desc();
  m.primitives.resize(static_cast<size_t>(kSmallClasses + kChunkRows / kRowGranule));
  m.src_handles.resize(m.primitives.size());
  m.dst_handles.resize(m.primitives.size());
  m.primitives.back() = dnnl::matmul(chunk_pd);
  m.make_pd = [make_pd, wei_md](int64_t rows) { return make_pd(rows, wei_md); };
  m.grow_scratch(chunk_pd.scratchpad_desc().get_size());

  // W is [N, K] row-major = [K, N] with strides {1, K} ("ba").
  std::vector<uint16_t> w_bf16;
  memory wsrc;
  if (precision == GemmPrecision::kBF16) {
    w_bf16.resize(static_cast<size_t>(K * N));
    to_bf16(weight, K * N, w_bf16.data());
    wsrc = memory({{K, N}, dt::bf16, memory::format_tag::ba}, eng, w_bf16.data());
  } else if (int8) {
    wsrc = memory({{K, N}, dt::s8, memory::format_tag::ba}, eng, w_s8.data());
  } else {
    wsrc = memory({{K, N}, dt::f32, memory::format_tag::ba}, eng, const_cast<float*>(weight));
  }
  m.weights = memory(wei_md, eng);
  dnnl::reorder(wsrc, m.weights).execute(thread_stream(), wsrc, m.weights);
  thread_stream().wait();
  m.weight_bytes = wei_md.get_size();
  if (bias) {
    m.bias_copy.assign(bias, bias + N);
    if (!int8) m.bias = memory(bias_md, eng, m.bias_copy.data());
    m.weight_bytes += sizeof(float) * N;
  }
  if (precision == GemmPrecision::kBF16) m.src_bf16.resize(static_cast<size_t>(kChunkRows * K));
  if (int8) {
    m.src_s8.resize(static_cast<size_t>(kChunkRows * K));
    m.row_scales.resize(static_cast<size_t>(kChunkRows));
  }
}

bool Linear::run(const float* x, int64_t ld_x, int64_t rows, float* y, int64_t ld_y,
                 int64_t rows_allocated, float* deferred_row_scale) {
  Impl& m = *impl_;
  const bool defer = deferred_row_scale && m.precision == GemmPrecision::kInt8 &&
                     m.bias_copy.empty() && m.act == engine::Activation::kIdentity;
  dnnl_stream_t stream = thread_stream().get();
  for (int64_t r0 = 0; r0 < rows; r0 += kChunkRows) {
    const int64_t n = std::min(kChunkRows, rows - r0);
    const int64_t padded = row_class(n);
    const float* xs = x + r0 * ld_x;
    float* ys = y + r0 * ld_y;
    const bool room = r0 + padded <= rows_allocated;  // padding rows may be touched in place

    // Source rows: as given when they are contiguous and need no padding,
    // else through staging (bf16 always: the GEMM reads bf16).
    const void* src = xs;
    if (m.precision == GemmPrecision::kBF16) {
      if (ld_x == in_) {
        to_bf16(xs, n * in_, m.src_bf16.data());
      } else {
        for (int64_t r = 0; r < n; ++r) to_bf16(xs + r * ld_x, in_, m.src_bf16.data() + r * in_);
      }
      std::memset(m.src_bf16.data() + n * in_, 0,
                  sizeof(uint16_t) * (padded - n) * in_);  // finite padding
      src = m.src_bf16.data();
    } else if (m.precision == GemmPrecision::kInt8) {
      quantize_rows_s8(xs, ld_x, n, in_, m.src_s8.data(), in_, m.row_scales.data());
      std::memset(m.src_s8.data() + n * in_, 0, static_cast<size_t>((padded - n) * in_));
      src = m.src_s8.data();
    } else if ((padded != n && !room) || ld_x != in_) {
      m.src_pad.resize(static_cast<size_t>(padded * in_));
      for (int64_t r = 0; r < n; ++r)
        std::memcpy(m.src_pad.data() + r * in_, xs + r * ld_x, sizeof(float) * in_);
      std::memset(m.src_pad.data() + n * in_, 0, sizeof(float) * (padded - n) * in_);
      src = m.src_pad.data();
    }
    const bool direct_dst = (padded == n || room) && ld_y == out_;
    if (!direct_dst) m.dst_pad.resize(static_cast<size_t>(padded * out_));
    float* dst = direct_dst ? ys : m.dst_pad.data();

    const dnnl::matmul& prim = m.primitive(padded);
    const auto [src_mem, dst_mem] = m.handles(padded, in_, out_, src, dst);
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, src_mem},
                               {DNNL_ARG_WEIGHTS, m.weights.get()},
                               {DNNL_ARG_DST, dst_mem},
                               {DNNL_ARG_SCRATCHPAD, m.scratch.get()},
                               {DNNL_ARG_BIAS, nullptr}};
    int nargs = 4;
    if (m.bias) args[nargs++].memory = m.bias.get();
    check(dnnl_primitive_execute(prim.get(), stream, nargs, args), "matmul");
    check(dnnl_stream_wait(stream), "stream wait");
    if (defer)
      std::memcpy(deferred_row_scale + r0, m.row_scales.data(), sizeof(float) * n);
    else if (m.precision == GemmPrecision::kInt8)
      scale_bias_activation(dst, out_, n, out_, m.row_scales.data(),
                            m.bias_copy.empty() ? nullptr : m.bias_copy.data(), m.act);
    if (!direct_dst)
      for (int64_t r = 0; r < n; ++r)
        std::memcpy(ys + r * ld_y, m.dst_pad.data() + r * out_, sizeof(float) * out_);
  }
  return defer;
}

std::size_t Linear::bytes() const {
  if (!impl_) return 0;
  return impl_->weight_bytes + impl_->scratch_bytes + impl_->src_bf16.capacity() * 2 +
         impl_->src_s8.capacity() + impl_->row_scales.capacity() * sizeof(float) +
         (impl_->src_pad.capacity() + impl_->dst_pad.capacity()) * sizeof(float);
}

const char* gemm_library_description() {
  static const std::string d = [] {
    const dnnl_version_t* v = dnnl_version();
    std::string isa;
    switch (dnnl::get_effective_cpu_isa()) {
      case dnnl::cpu_isa::avx512_core_amx:
        isa = "avx512_core_amx";
        break;
      case dnnl::cpu_isa::avx512_core_bf16:
        isa = "avx512_core_bf16";
        break;
      case dnnl::cpu_isa::avx512_core_vnni:
        isa = "avx512_core_vnni";
        break;
      case dnnl::cpu_isa::avx512_core:
        isa = "avx512_core";
        break;
      case dnnl::cpu_isa::avx2_vnni:
        isa = "avx2_vnni";
        break;
      case dnnl::cpu_isa::avx2:
        isa = "avx2";
        break;
      default:
        isa = "other";
        break;
    }
    return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
           std::to_string(v->patch) + " (" + isa + ")";
  }();
  return d.c_str();
}

}  // namespace sluice::cpu
