#include "tests/gpu/gpu_test_support.h"

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "tests/support/model_fixtures.h"

namespace sluice::gpu_testing {
namespace fs = std::filesystem;

void PrintTo(const ModelCase& m, std::ostream* os) { *os << m.name; }

const std::vector<ModelCase>& model_cases() {
  static const std::vector<ModelCase> cases = {
      {"bert-d16", {"bert", 2, 64, 4, 128, 300, 160, 3, "gelu", 11}},
      {"bert-d64", {"bert", 3, 256, 4, 1024, 500, 160, 5, "gelu", 12}},
      {"distilbert-d16", {"distilbert", 2, 64, 4, 128, 300, 160, 2, "gelu", 13}},
      {"roberta-d32", {"roberta", 2, 128, 4, 256, 300, 160, 3, "gelu", 14}},
      {"bert-d24-tanh", {"bert", 2, 96, 4, 192, 300, 160, 3, "gelu_new", 15}},
  };
  return cases;
}

const ModelCase& model_case(const std::string& name) {
  for (const auto& m : model_cases())
    if (m.name == name) return m;
  throw std::out_of_range("no test model named " + name);
}

Tol model_tol(const std::string& dtype) {
  return dtype == "fp16" ? Tol{1.5e-2, 5e-2} : Tol{8e-2, 3e-1};
}

fs::path scratch_root() {
  if (const char* e = std::getenv("SLUICE_GPU_TEST_DIR"); e && *e) return fs::path(e);
  return fs::temp_directory_path() / "sluice-gpu-tests";
}

namespace {

std::string spec_text(const RandomModelSpec& s) {
  std::ostringstream os;
  os << s.arch << ' ' << s.layers << ' ' << s.hidden << ' ' << s.heads << ' ' << s.intermediate
     << ' ' << s.vocab << ' ' << s.max_positions << ' ' << s.labels << ' ' << s.act << ' '
     << s.seed;
  return os.str();
}

engine::testing::RawTensor f32(const std::vector<int64_t>& shape, const std::vector<float>& v) {
  engine::testing::RawTensor t;
  t.dtype = "F32";
  t.shape = shape;
  t.bytes.resize(v.size() * 4);
  std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
  return t;
}

}  // namespace

std::vector<float> random_normal(std::mt19937& g, size_t n, float stddev) {
  std::normal_distribution<float> d(0.f, stddev);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

fs::path random_model(const std::string& name, const RandomModelSpec& s) {
  const fs::path dir = scratch_root() / "models" / name;
  const fs::path stamp = dir / ".spec";
  const std::string text = spec_text(s);
  if (fs::exists(stamp) && engine::testing::read_text(stamp) == text) return dir;
  fs::remove_all(dir);
  fs::create_directories(dir);

  std::mt19937 g(s.seed);
  std::map<std::string, engine::testing::RawTensor> t;
  const int64_t d = s.hidden, inter = s.intermediate;
  auto linear = [&](const std::string& n, int64_t out_f, int64_t in_f) {
    t[n + ".weight"] = f32(
        {out_f, in_f}, random_normal(g, out_f * in_f, 1.f / std::sqrt(static_cast<float>(in_f))));
    t[n + ".bias"] = f32({out_f}, random_normal(g, out_f, 0.1f));
  };
  auto norm = [&](const std::string& n) {
    auto w = random_normal(g, d, 0.1f);
    for (auto& x : w) x += 1.f;
    t[n + ".weight"] = f32({d}, w);
    t[n + ".bias"] = f32({d}, random_normal(g, d, 0.1f));
  };
  const bool roberta = s.arch == "roberta";
  const int pad = roberta ? 1 : 0;
  const int64_t max_pos = s.max_positions + (roberta ? pad + 1 : 0);
  nlohmann::json c;
  if (s.arch == "distilbert") {
    const std::string p = "distilbert.";
    t[p + "embeddings.word_embeddings.weight"] =
        f32({s.vocab, d}, random_normal(g, s.vocab * d, 1.f));
    t[p + "embeddings.position_embeddings.weight"] =
        f32({max_pos, d}, random_normal(g, max_pos * d, 0.5f));
    norm(p + "embeddings.LayerNorm");
    for (int i = 0; i < s.layers; ++i) {
      const std::string q = p + "transformer.layer." + std::to_string(i) + ".";
      for (const char* n : {"q_lin", "k_lin", "v_lin", "out_lin"})
        linear(q + "attention." + n, d, d);
      norm(q + "sa_layer_norm");
      linear(q + "ffn.lin1", inter, d);
      linear(q + "ffn.lin2", d, inter);
      norm(q + "output_layer_norm");
    }
    linear("pre_classifier", d, d);
    linear("classifier", s.labels, d);
    c = {{"architectures", {"DistilBertForSequenceClassification"}},
         {"model_type", "distilbert"},
         {"activation", s.act},
         {"dim", d},
         {"hidden_dim", inter},
         {"n_layers", s.layers},
         {"n_heads", s.heads},
         {"sinusoidal_pos_embds", false}};
  } else {
    const std::string p = roberta ? "roberta." : "bert.";
    const int64_t types = roberta ? 1 : 2;
    t[p + "embeddings.word_embeddings.weight"] =
        f32({s.vocab, d}, random_normal(g, s.vocab * d, 1.f));
    t[p + "embeddings.position_embeddings.weight"] =
        f32({max_pos, d}, random_normal(g, max_pos * d, 0.5f));
    t[p + "embeddings.token_type_embeddings.weight"] =
        f32({types, d}, random_normal(g, types * d, 0.5f));
    norm(p + "embeddings.LayerNorm");
    for (int i = 0; i < s.layers; ++i) {
      const std::string q = p + "encoder.layer." + std::to_string(i) + ".";
      for (const char* n : {"query", "key", "value"}) linear(q + "attention.self." + n, d, d);
      linear(q + "attention.output.dense", d, d);
      norm(q + "attention.output.LayerNorm");
      linear(q + "intermediate.dense", inter, d);
      linear(q + "output.dense", d, inter);
      norm(q + "output.LayerNorm");
    }
    if (roberta) {
      linear("classifier.dense", d, d);
      linear("classifier.out_proj", s.labels, d);
    } else {
      linear(p + "pooler.dense", d, d);
      linear("classifier", s.labels, d);
    }
    c = {{"architectures",
          {roberta ? "RobertaForSequenceClassification" : "BertForSequenceClassification"}},
         {"model_type", roberta ? "roberta" : "bert"},
         {"hidden_size", d},
         {"num_hidden_layers", s.layers},
         {"num_attention_heads", s.heads},
         {"intermediate_size", inter},
         {"hidden_act", s.act},
         {"type_vocab_size", types},
         {"layer_norm_eps", roberta ? 1e-5 : 1e-12},
         {"position_embedding_type", "absolute"}};
  }
  nlohmann::json id2label = nlohmann::json::object(), label2id = nlohmann::json::object();
  for (int i = 0; i < s.labels; ++i) {
    id2label[std::to_string(i)] = "LABEL_" + std::to_string(i);
    label2id["LABEL_" + std::to_string(i)] = i;
  }
  c["id2label"] = id2label;
  c["label2id"] = label2id;
  c["max_position_embeddings"] = max_pos;
  c["pad_token_id"] = pad;
  c["vocab_size"] = s.vocab;
  c["torch_dtype"] = "float32";
  engine::testing::write_text(dir / "config.json", c.dump(2));
  engine::testing::write_safetensors(dir / "model.safetensors", t);
  engine::testing::write_text(stamp, text);
  return dir;
}

std::vector<std::vector<int32_t>> random_sequences(std::mt19937& g, const std::vector<int>& lengths,
                                                   int vocab, bool avoid_pad_one) {
  std::uniform_int_distribution<int> id(avoid_pad_one ? 2 : 1, vocab - 1);
  std::vector<std::vector<int32_t>> out;
  for (int len : lengths) {
    std::vector<int32_t> s(static_cast<size_t>(len));
    for (auto& x : s) x = id(g);
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<Seqs> random_batches(std::mt19937& g, int batches, int max_records, int max_len,
                                 int vocab, bool avoid_pad_one) {
  std::uniform_int_distribution<int> len(1, max_len), count(1, max_records);
  std::vector<Seqs> out;
  for (int i = 0; i < batches; ++i) {
    std::vector<int> lengths(static_cast<size_t>(count(g)));
    for (auto& l : lengths) l = len(g);
    out.push_back(random_sequences(g, lengths, vocab, avoid_pad_one));
  }
  return out;
}

Packed pack(const std::vector<std::vector<int32_t>>& seqs) {
  Packed p;
  for (const auto& s : seqs) {
    p.ids.insert(p.ids.end(), s.begin(), s.end());
    p.cu.push_back(static_cast<int32_t>(p.ids.size()));
    p.max_len = std::max(p.max_len, static_cast<int32_t>(s.size()));
  }
  return p;
}

ErrorStats error_stats(const std::vector<float>& got, const std::vector<float>& ref) {
  ErrorStats e;
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size() && i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) {
      ++e.nans;
      continue;
    }
    const double diff = static_cast<double>(got[i]) - ref[i];
    num += diff * diff;
    den += static_cast<double>(ref[i]) * ref[i];
    if (std::fabs(diff) > e.max_abs) {
      e.max_abs = std::fabs(diff);
      e.worst = i;
    }
    e.ref_max = std::max(e.ref_max, std::fabs(static_cast<double>(ref[i])));
  }
  e.rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  return e;
}

::testing::AssertionResult close(const std::vector<float>& got, const std::vector<float>& ref,
                                 double rel_tol, double abs_tol) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure()
           << "size " << got.size() << " != reference size " << ref.size();
  const ErrorStats e = error_stats(got, ref);
  if (e.nans == 0 && e.rel_l2 <= rel_tol && e.max_abs <= abs_tol)
    return ::testing::AssertionSuccess();
  auto f = ::testing::AssertionFailure();
  f << "relative L2 error " << e.rel_l2 << " (tolerance " << rel_tol << "), max abs error "
    << e.max_abs << " (tolerance " << abs_tol << ") at index " << e.worst << " (got "
    << got[e.worst] << ", reference " << ref[e.worst] << "), " << e.nans << " non-finite of "
    << got.size() << " (max |reference| " << e.ref_max << ")";
  if (e.nans) {
    size_t first = 0;
    while (first < got.size() && std::isfinite(got[first])) ++first;
    f << "; first non-finite at index " << first << " (an unwritten output, or a NaN computed)";
  }
  return f;
}

Out run_batch(engine::Backend& b, const Seqs& seqs, bool pooled) {
  const Packed p = pack(seqs);
  Out o;
  o.logits.assign(seqs.size() * b.config().num_labels, NAN);
  if (pooled) o.pooled.assign(seqs.size() * b.config().hidden_size, NAN);
  const engine::BatchResult r = b.run({p.ids, p.cu, p.max_len}, {o.logits, o.pooled});
  EXPECT_TRUE(r.ok) << r.error;
  return o;
}

void expect_callbacks_in_submit_order(
    engine::Backend& backend, const std::vector<Seqs>& batches,
    const std::function<std::vector<float>(const Seqs&)>& reference, double rel_tol,
    double abs_tol) {
  struct Seen {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<engine::Ticket> order;
    bool all_ok = true, timed = true;
  } seen;
  const size_t n = batches.size();
  std::vector<Packed> packed;
  std::vector<std::vector<float>> outs(n);
  for (size_t i = 0; i < n; ++i) {
    packed.push_back(pack(batches[i]));
    outs[i].assign(batches[i].size() * backend.config().num_labels, NAN);
  }
  engine::CompletionCallback cb{[](void* ctx, engine::Ticket t, const engine::BatchResult& r) {
                                  auto* s = static_cast<Seen*>(ctx);
                                  std::lock_guard lock(s->mu);
                                  s->all_ok = s->all_ok && r.ok;
                                  s->timed = s->timed && r.compute_ns > 0;
                                  s->order.push_back(t);
                                  s->cv.notify_all();
                                },
                                &seen};
  std::vector<engine::Ticket> tickets;
  for (size_t i = 0; i < n; ++i)
    tickets.push_back(
        backend.submit({packed[i].ids, packed[i].cu, packed[i].max_len}, {outs[i], {}}, cb));
  {
    std::unique_lock lock(seen.mu);
    ASSERT_TRUE(
        seen.cv.wait_for(lock, std::chrono::seconds(60), [&] { return seen.order.size() == n; }))
        << "only " << seen.order.size() << " of " << n << " callbacks arrived";
  }
  EXPECT_EQ(seen.order, tickets);
  EXPECT_TRUE(seen.all_ok);
  EXPECT_TRUE(seen.timed) << "compute_ns must be measured";
  for (size_t i = 0; i < n; ++i) {
    EXPECT_TRUE(backend.poll(tickets[i]));
    EXPECT_TRUE(close(outs[i], reference(batches[i]), rel_tol, abs_tol)) << "batch " << i;
  }
}

void expect_wait_retires_ticket_and_poll_sees_completion(engine::Backend& backend,
                                                         const Seqs& a_seqs, const Seqs& b_seqs) {
  const size_t labels = static_cast<size_t>(backend.config().num_labels);
  const Packed a = pack(a_seqs), b = pack(b_seqs);
  std::vector<float> la(a_seqs.size() * labels), lb(b_seqs.size() * labels),
      lc(a_seqs.size() * labels);
  const engine::Ticket ta = backend.submit({a.ids, a.cu, a.max_len}, {la, {}});
  const engine::Ticket tb = backend.submit({b.ids, b.cu, b.max_len}, {lb, {}});
  EXPECT_LT(ta, tb);
  EXPECT_TRUE(backend.wait(tb).ok);
  EXPECT_TRUE(backend.poll(ta));  // in order: b done implies a done
  EXPECT_TRUE(backend.wait(ta).ok);
  EXPECT_THROW(backend.wait(ta), std::logic_error);
  EXPECT_TRUE(backend.wait(backend.submit({a.ids, a.cu, a.max_len}, {lc, {}})).ok);
  EXPECT_EQ(la, lc);
}

void expect_refuses_malformed_batches(engine::Backend& backend) {
  const auto& c = backend.config();
  std::vector<int32_t> ids = {5, 6, 7};
  std::vector<float> logits(static_cast<size_t>(c.num_labels)),
      pooled(static_cast<size_t>(c.hidden_size));
  const std::vector<int32_t> bad_end = {0, 2};
  EXPECT_THROW(backend.submit({ids, bad_end, 3}, {logits, {}}), std::invalid_argument);
  const std::vector<int32_t> cu = {0, 3};
  EXPECT_THROW(backend.submit({ids, cu, 2}, {logits, {}}), std::invalid_argument);
  std::vector<int32_t> out_of_vocab = {5, static_cast<int32_t>(c.vocab_size), 7};
  EXPECT_THROW(backend.submit({out_of_vocab, cu, 3}, {logits, {}}), std::invalid_argument);
  std::vector<float> short_logits(logits.size() - 1);
  EXPECT_THROW(backend.submit({ids, cu, 3}, {short_logits, {}}), std::invalid_argument);
  EXPECT_TRUE(backend.run({ids, cu, 3}, {logits, pooled}).ok);  // and the backend still works
}

void expect_record_same_alone_or_mixed(engine::Backend& backend, const Seqs& recs,
                                       const Seqs& others, const Tol& tol) {
  const int64_t labels = backend.config().num_labels, d = backend.config().hidden_size;
  for (size_t i = 0; i < recs.size(); ++i) {
    const Out alone = run_batch(backend, {recs[i]});
    auto mixed = others;
    const size_t at = i % (others.size() + 1);
    mixed.insert(mixed.begin() + static_cast<long>(at), recs[i]);
    const Out m = run_batch(backend, mixed);
    const std::vector<float> ml(m.logits.begin() + at * labels,
                                m.logits.begin() + (at + 1) * labels);
    const std::vector<float> mp(m.pooled.begin() + at * d, m.pooled.begin() + (at + 1) * d);
    // cuBLAS may pick another kernel for another row count, so not bit-equal;
    // a leak between packed sequences would be far outside this.
    EXPECT_TRUE(close(ml, alone.logits, tol.rel, tol.abs)) << "record " << i << " logits";
    EXPECT_TRUE(close(mp, alone.pooled, tol.rel, tol.abs))
        << "record " << i << " first-token state";
  }
}

uint32_t test_seed() {
  static const uint32_t seed = [] {
    if (const char* e = std::getenv("SLUICE_GPU_TEST_SEED"); e && *e)
      return static_cast<uint32_t>(std::strtoul(e, nullptr, 10));
    return static_cast<uint32_t>(std::random_device{}());
  }();
  return seed;
}

}  // namespace sluice::gpu_testing
