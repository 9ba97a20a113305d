// Model::Load: binds every tensor an architecture needs (reference/engine.md §1.8), checking
// shapes and types up front so that a bad file fails here, naming the tensor, and not as garbage
// or an out-of-bounds read in the middle of a forward pass.
#include "engine/model/model.h"

#include <cmath>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "engine/quant/quant.h"
#include "engine/tokenizer/vocab.h"
#include "fmt/format.h"

namespace sobre::engine {
namespace {

// Collects the names bound so far so that unexpected tensors can be refused afterwards.
class Binder {
 public:
  explicit Binder(const GgufFile& file) : file_(file) {}

  // A 2-D tensor of `rows` rows of `cols` values (rows < 0: any count). NotFound when absent and
  // `required`; an absent optional matrix is returned empty.
  StatusOr<WeightMatrix> Matrix(const std::string& name, int64_t cols, int64_t rows,
                                bool required = true) {
    const GgufTensorInfo* t = file_.FindTensor(name);
    if (t == nullptr) {
      if (!required) return WeightMatrix{};
      return NotFoundError(fmt::format("tensor {} is missing", name));
    }
    bound_.insert(name);
    if (t->n_dims > 2 || t->dims[2] != 1 || t->dims[3] != 1 ||
        t->dims[0] != static_cast<uint64_t>(cols) ||
        (rows >= 0 && t->dims[1] != static_cast<uint64_t>(rows))) {
      return InvalidArgumentError(fmt::format(
          "tensor {} has shape [{}, {}, {}, {}], expected [{}, {}]", name, t->dims[0], t->dims[1],
          t->dims[2], t->dims[3], cols, rows >= 0 ? std::to_string(rows) : std::string("any")));
    }
    SOBRE_RETURN_IF_ERROR(CheckType(*t));
    WeightMatrix m;
    m.tensor = t;
    m.type = t->type;
    m.data = t->data;
    m.cols = cols;
    m.rows = static_cast<int64_t>(t->dims[1]);
    m.row_bytes = RowBytes(t->type, static_cast<size_t>(cols));
    if (m.row_bytes * static_cast<uint64_t>(m.rows) != t->size_bytes) {
      return InvalidArgumentError(fmt::format("tensor {} holds {} bytes, expected {}", name,
                                              t->size_bytes, m.row_bytes * m.rows));
    }
    return m;
  }

  // A 1-D tensor of n values widened to f32; empty when absent and not `required`.
  StatusOr<std::vector<float>> Vector(const std::string& name, int64_t n, bool required = true) {
    const GgufTensorInfo* t = file_.FindTensor(name);
    if (t == nullptr) {
      if (!required) return std::vector<float>{};
      return NotFoundError(fmt::format("tensor {} is missing", name));
    }
    bound_.insert(name);
    if (t->elements() != static_cast<uint64_t>(n) || t->dims[0] != static_cast<uint64_t>(n)) {
      return InvalidArgumentError(fmt::format("tensor {} has shape [{}, {}, {}, {}], expected [{}]",
                                              name, t->dims[0], t->dims[1], t->dims[2],
                                              t->dims[3], n));
    }
    SOBRE_RETURN_IF_ERROR(CheckType(*t));
    if (t->size_bytes != RowBytes(t->type, static_cast<size_t>(n))) {
      return InvalidArgumentError(fmt::format("tensor {} holds {} bytes, expected {}", name,
                                              t->size_bytes, RowBytes(t->type, n)));
    }
    std::vector<float> v(static_cast<size_t>(n));
    DequantizeRow(t->type, t->data, v.data(), v.size());
    return v;
  }

  // Refuses every tensor of the file that was not bound: the forward pass would ignore it and
  // silently compute something else than the model.
  Status RejectUnbound(std::string_view arch) const {
    for (const GgufTensorInfo& t : file_.tensors()) {
      if (bound_.count(t.name) != 0) continue;
      if (arch == "bert" && t.name.rfind("cls.", 0) == 0) continue;  // classifier heads: unused
      return UnimplementedError(fmt::format(
          "tensor {} is not supported by the {} forward pass", t.name, arch));
    }
    return OkStatus();
  }

 private:
  static Status CheckType(const GgufTensorInfo& t) {
    const GgmlTypeTraits& traits = TraitsOf(t.type);
    if (!traits.storable || !IsSupportedWeightType(t.type)) {
      return UnimplementedError(
          fmt::format("tensor {} has type {}, which the engine does not support", t.name,
                      traits.name));
    }
    const uint64_t block = traits.block_elements;
    if (t.dims[0] % block != 0) {
      return InvalidArgumentError(fmt::format("tensor {}: row length {} is not a multiple of the "
                                              "{} block size {}", t.name, t.dims[0], traits.name,
                                              block));
    }
    return OkStatus();
  }

  const GgufFile& file_;
  std::unordered_set<std::string> bound_;
};

}  // namespace

Model::Model() = default;
Model::~Model() = default;

StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& path,
                                             const ModelOptions& options) {
  GgufOpenOptions open_options;
  open_options.prefetch = options.prefetch;
  StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(path, open_options);
  if (!file.ok()) return file.status().WithContext("loading model " + path);
  return FromFile(std::move(file).value(), options);
}

StatusOr<std::unique_ptr<Model>> Model::FromFile(std::unique_ptr<GgufFile> file,
                                                 const ModelOptions& options) {
  std::unique_ptr<Model> model(new Model());
  model->file_ = std::move(file);
  const std::string context = "loading model " + model->file_->path();
  StatusOr<ModelHparams> hp = ReadHparams(*model->file_);
  if (!hp.ok()) return hp.status().WithContext(context);
  model->hparams_ = *hp;
  Status bound = model->Bind();
  if (!bound.ok()) return bound.WithContext(context);
  if (options.load_vocab) {
    StatusOr<VocabData> data = ReadVocab(*model->file_);
    if (!data.ok()) return data.status().WithContext(context);
    StatusOr<std::unique_ptr<Vocab>> vocab = Vocab::Create(std::move(data).value());
    if (!vocab.ok()) return vocab.status().WithContext(context);
    model->vocab_ = std::move(vocab).value();
    // token_embd may have padding rows beyond the vocabulary (Qwen2.5), never fewer.
    if (model->vocab_->n_tokens() > model->hparams_.n_vocab) {
      return InvalidArgumentError(fmt::format(
          "{}: the vocabulary has {} tokens but token_embd.weight has only {} rows", context,
          model->vocab_->n_tokens(), model->hparams_.n_vocab));
    }
  }
  return model;
}

Status Model::Bind() {
  Binder b(*file_);
  ModelHparams& hp = hparams_;
  ModelWeights& w = weights_;
  const bool bert = hp.arch == Architecture::kBert;
  const bool qwen2 = hp.arch == Architecture::kQwen2;
  const int64_t e = hp.n_embd;

  SOBRE_ASSIGN_OR_RETURN(w.token_embd, b.Matrix("token_embd.weight", e, -1));
  if (w.token_embd.rows <= 0 || w.token_embd.rows > (int64_t{1} << 24)) {
    return InvalidArgumentError(fmt::format("tensor token_embd.weight has {} rows (vocabulary "
                                            "size out of range)", w.token_embd.rows));
  }
  hp.n_vocab = static_cast<int>(w.token_embd.rows);

  if (bert) {
    SOBRE_ASSIGN_OR_RETURN(w.position_embd, b.Matrix("position_embd.weight", e, hp.n_ctx_train));
    SOBRE_ASSIGN_OR_RETURN(w.token_types, b.Matrix("token_types.weight", e, -1));
    SOBRE_ASSIGN_OR_RETURN(w.token_embd_norm, b.Vector("token_embd_norm.weight", e));
    SOBRE_ASSIGN_OR_RETURN(w.token_embd_norm_bias, b.Vector("token_embd_norm.bias", e));
  } else {
    SOBRE_ASSIGN_OR_RETURN(w.output_norm, b.Vector("output_norm.weight", e));
    SOBRE_ASSIGN_OR_RETURN(w.output, b.Matrix("output.weight", e, hp.n_vocab, false));
    w.tied_output = !w.output;
    if (w.tied_output) w.output = w.token_embd;
    SOBRE_ASSIGN_OR_RETURN(w.rope_freqs, b.Vector("rope_freqs.weight", hp.n_rot / 2, false));
    for (float f : w.rope_freqs) {
      if (!(f > 0) || !std::isfinite(f)) {
        return InvalidArgumentError("tensor rope_freqs.weight holds a value that is not a "
                                    "positive number");
      }
    }
  }

  const int64_t q_dim = hp.q_dim();
  const int64_t kv_dim = hp.kv_dim();
  w.layers.resize(static_cast<size_t>(hp.n_layer));
  for (int il = 0; il < hp.n_layer; ++il) {
    LayerWeights& l = w.layers[static_cast<size_t>(il)];
    const std::string p = fmt::format("blk.{}.", il);
    SOBRE_ASSIGN_OR_RETURN(l.attn_q, b.Matrix(p + "attn_q.weight", e, q_dim));
    SOBRE_ASSIGN_OR_RETURN(l.attn_k, b.Matrix(p + "attn_k.weight", e, kv_dim));
    SOBRE_ASSIGN_OR_RETURN(l.attn_v, b.Matrix(p + "attn_v.weight", e, kv_dim));
    SOBRE_ASSIGN_OR_RETURN(l.attn_output, b.Matrix(p + "attn_output.weight", q_dim, e));
    SOBRE_ASSIGN_OR_RETURN(l.ffn_up, b.Matrix(p + "ffn_up.weight", e, hp.n_ff));
    SOBRE_ASSIGN_OR_RETURN(l.ffn_down, b.Matrix(p + "ffn_down.weight", hp.n_ff, e));
    SOBRE_ASSIGN_OR_RETURN(l.attn_q_bias, b.Vector(p + "attn_q.bias", q_dim, bert || qwen2));
    SOBRE_ASSIGN_OR_RETURN(l.attn_k_bias, b.Vector(p + "attn_k.bias", kv_dim, bert || qwen2));
    SOBRE_ASSIGN_OR_RETURN(l.attn_v_bias, b.Vector(p + "attn_v.bias", kv_dim, bert || qwen2));
    SOBRE_ASSIGN_OR_RETURN(l.attn_output_bias, b.Vector(p + "attn_output.bias", e, bert));
    if (bert) {
      SOBRE_ASSIGN_OR_RETURN(l.attn_output_norm, b.Vector(p + "attn_output_norm.weight", e));
      SOBRE_ASSIGN_OR_RETURN(l.attn_output_norm_bias, b.Vector(p + "attn_output_norm.bias", e));
      SOBRE_ASSIGN_OR_RETURN(l.layer_output_norm, b.Vector(p + "layer_output_norm.weight", e));
      SOBRE_ASSIGN_OR_RETURN(l.layer_output_norm_bias,
                             b.Vector(p + "layer_output_norm.bias", e));
      SOBRE_ASSIGN_OR_RETURN(l.ffn_up_bias, b.Vector(p + "ffn_up.bias", hp.n_ff));
      SOBRE_ASSIGN_OR_RETURN(l.ffn_down_bias, b.Vector(p + "ffn_down.bias", e));
    } else {
      SOBRE_ASSIGN_OR_RETURN(l.attn_norm, b.Vector(p + "attn_norm.weight", e));
      SOBRE_ASSIGN_OR_RETURN(l.ffn_norm, b.Vector(p + "ffn_norm.weight", e));
      SOBRE_ASSIGN_OR_RETURN(l.ffn_gate, b.Matrix(p + "ffn_gate.weight", e, hp.n_ff));
    }
  }
  return b.RejectUnbound(ArchitectureName(hp.arch));
}

uint64_t Model::weight_bytes_per_token() const {
  auto bytes = [](const WeightMatrix& m) {
    return m ? static_cast<uint64_t>(m.row_bytes) * static_cast<uint64_t>(m.rows) : 0;
  };
  uint64_t total = weights_.output && hparams_.arch != Architecture::kBert ? bytes(weights_.output)
                                                                           : 0;
  for (const LayerWeights& l : weights_.layers) {
    total += bytes(l.attn_q) + bytes(l.attn_k) + bytes(l.attn_v) + bytes(l.attn_output) +
             bytes(l.ffn_gate) + bytes(l.ffn_up) + bytes(l.ffn_down);
  }
  return total;
}

}  // namespace sobre::engine
