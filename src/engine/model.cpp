#include "src/engine/model.h"

#include <map>

#include "src/engine/model_error.h"
#include "src/engine/safetensors.h"

namespace sluice::engine {
namespace {

// Hugging Face tensor names of one architecture.
struct Names {
  std::string prefix;  // "bert.", "roberta.", "distilbert."
  std::string layer;   // prefix of layer i, before the index: "bert.encoder.layer."
  // Inside a layer (after "<layer><i>."):
  std::string q, k, v, attn_out, attn_norm, ffn_in, ffn_out, ffn_norm;
};

Names names_for(Architecture a) {
  if (a == Architecture::kDistilBert) {
    return {"distilbert.",     "distilbert.transformer.layer.",
            "attention.q_lin", "attention.k_lin",
            "attention.v_lin", "attention.out_lin",
            "sa_layer_norm",   "ffn.lin1",
            "ffn.lin2",        "output_layer_norm"};
  }
  const std::string p = a == Architecture::kRoberta ? "roberta." : "bert.";
  return {p,
          p + "encoder.layer.",
          "attention.self.query",
          "attention.self.key",
          "attention.self.value",
          "attention.output.dense",
          "attention.output.LayerNorm",
          "intermediate.dense",
          "output.dense",
          "output.LayerNorm"};
}

// Reads the weights the architecture needs. A checking Loader (no storage)
// only looks each tensor up and compares its shape; load() runs one over the
// whole model before the converting one allocates anything, so a config that
// disagrees with the weights costs no memory (hidden_size 65536 used to
// allocate gigabytes before the first shape error).
class Loader {
 public:
  Loader(const SafetensorsFile& st, std::vector<std::unique_ptr<float[]>>* storage)
      : st_(st), storage_(storage) {}

  // The tensor `name` as fp32, checked against [rows, cols] (a vector [cols] when rows == 0).
  TensorView get(const std::string& name, int64_t rows, int64_t cols) {
    const TensorInfo& t = check(name, rows, cols);
    float* buf = storage_ ? alloc(t.numel()) : nullptr;
    convert(t, buf);
    return {buf, rows == 0 ? 1 : rows, cols};
  }

  // Checks the tensor `name` and, unless checking only, converts it into dst.
  void read(const std::string& name, int64_t rows, int64_t cols, float* dst) {
    convert(check(name, rows, cols), dst);
  }

  // LayerNorm weights under "<base>.weight/.bias" (or the older ".gamma/.beta").
  LayerNormView norm(const std::string& base, int64_t hidden) {
    if (!st_.find(base + ".weight") && st_.find(base + ".gamma"))
      return {get(base + ".gamma", 0, hidden), get(base + ".beta", 0, hidden)};
    return {get(base + ".weight", 0, hidden), get(base + ".bias", 0, hidden)};
  }

  LinearView linear(const std::string& base, int64_t out, int64_t in) {
    return {get(base + ".weight", out, in), get(base + ".bias", 0, out)};
  }

  // Q, K and V stacked into one [3·hidden, hidden] projection.
  LinearView fused_qkv(const std::string& q, const std::string& k, const std::string& v,
                       int64_t hidden) {
    const std::string* parts[3] = {&q, &k, &v};
    for (const std::string* part : parts) {
      check(*part + ".weight", hidden, hidden);
      check(*part + ".bias", 0, hidden);
    }
    float* w = storage_ ? alloc(3 * hidden * hidden) : nullptr;
    float* b = storage_ ? alloc(3 * hidden) : nullptr;
    for (int i = 0; i < 3; ++i) {
      read(*parts[i] + ".weight", hidden, hidden, w ? w + i * hidden * hidden : nullptr);
      read(*parts[i] + ".bias", 0, hidden, b ? b + i * hidden : nullptr);
    }
    return {{w, 3 * hidden, hidden}, {b, 1, 3 * hidden}};
  }

  // Row 0 of a table (the token-type row every single-sentence input uses).
  TensorView first_row(const TensorView& t) { return {t.data, 1, t.cols}; }

  std::string dominant_dtype() const {
    std::string best;
    int n = -1;
    for (const auto& [k, c] : dtype_counts_)
      if (c > n) best = k, n = c;
    return best;
  }
  int64_t parameters() const { return parameters_; }

 private:
  std::string file() const { return st_.path().string(); }

  float* alloc(int64_t n) {
    storage_->push_back(std::make_unique<float[]>(static_cast<size_t>(n)));
    return storage_->back().get();
  }

  void convert(const TensorInfo& t, float* dst) {
    if (!storage_) return;
    st_.read_f32(t, {dst, static_cast<size_t>(t.numel())});
    ++dtype_counts_[dtype_name(t.dtype)];
    parameters_ += t.numel();
  }

  const TensorInfo& check(const std::string& name, int64_t rows, int64_t cols) const {
    const TensorInfo* t = st_.find(name);
    if (!t) throw ModelError(file(), "missing tensor '" + name + "'");
    std::vector<int64_t> want =
        rows == 0 ? std::vector<int64_t>{cols} : std::vector<int64_t>{rows, cols};
    if (t->shape != want)
      throw ModelError(file(), "tensor '" + t->name + "' has shape " + shape_string(t->shape) +
                                   ", expected " + shape_string(want));
    return *t;
  }

  const SafetensorsFile& st_;
  std::vector<std::unique_ptr<float[]>>* storage_;  // null: check only
  std::map<std::string, int> dtype_counts_;
  int64_t parameters_ = 0;
};

// The architecture's weights from `l`, in the common layout.
EncoderWeights map_weights(const ModelConfig& c, Loader& l) {
  const int64_t d = c.hidden_size;
  const Names n = names_for(c.architecture);
  EncoderWeights w;

  const std::string emb = n.prefix + "embeddings.";
  w.word_embeddings = l.get(emb + "word_embeddings.weight", c.vocab_size, d);
  w.position_embeddings = l.get(emb + "position_embeddings.weight", c.max_position_embeddings, d);
  if (c.architecture != Architecture::kDistilBert)
    w.token_type_row =
        l.first_row(l.get(emb + "token_type_embeddings.weight", c.type_vocab_size, d));
  w.embedding_norm = l.norm(emb + "LayerNorm", d);

  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = n.layer + std::to_string(i) + ".";
    EncoderLayerView layer;
    layer.qkv = l.fused_qkv(p + n.q, p + n.k, p + n.v, d);
    layer.attention_output = l.linear(p + n.attn_out, d, d);
    layer.attention_norm = l.norm(p + n.attn_norm, d);
    layer.ffn_in = l.linear(p + n.ffn_in, c.intermediate_size, d);
    layer.ffn_out = l.linear(p + n.ffn_out, d, c.intermediate_size);
    layer.ffn_norm = l.norm(p + n.ffn_norm, d);
    w.layers.push_back(layer);
  }

  switch (c.architecture) {
    case Architecture::kBert:
      w.head.pre = l.linear("bert.pooler.dense", d, d);
      w.head.pre_activation = Activation::kTanh;
      w.head.out = l.linear("classifier", c.num_labels, d);
      break;
    case Architecture::kDistilBert:
      w.head.pre = l.linear("pre_classifier", d, d);
      w.head.pre_activation = Activation::kRelu;
      w.head.out = l.linear("classifier", c.num_labels, d);
      break;
    case Architecture::kRoberta:
      w.head.pre = l.linear("classifier.dense", d, d);
      w.head.pre_activation = Activation::kTanh;
      w.head.out = l.linear("classifier.out_proj", c.num_labels, d);
      break;
  }
  return w;
}

}  // namespace

Model Model::load(const std::filesystem::path& dir) {
  Model m;
  m.dir_ = dir;
  m.name_ =
      dir.filename().empty() ? dir.parent_path().filename().string() : dir.filename().string();
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw ModelError(dir.string(), "not a model directory (missing or not a directory)");
  m.config_ = load_model_config(dir / "config.json");
  const auto st_path = dir / "model.safetensors";
  if (!std::filesystem::exists(st_path, ec))
    throw ModelError(st_path.string(),
                     "missing (a model directory needs config.json and model.safetensors)");
  const SafetensorsFile st = SafetensorsFile::open(st_path);

  if (std::filesystem::exists(dir / "tokenizer.json", ec)) {
    m.tokenizer_path_ = dir / "tokenizer.json";
  } else if (std::filesystem::exists(dir / "vocab.txt", ec)) {
    m.tokenizer_path_ = dir / "vocab.txt";
  }

  Loader checker(st, nullptr);
  map_weights(m.config_, checker);  // every tensor and shape, before any allocation
  Loader l(st, &m.storage_);
  m.weights_ = map_weights(m.config_, l);
  m.weights_dtype_ = l.dominant_dtype();
  m.parameters_ = l.parameters();
  return m;
}

}  // namespace sluice::engine
