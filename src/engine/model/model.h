// Model: a GGUF file's weights (mapped read-only), hyper-parameters and vocabulary, bound and
// validated once so that the forward passes (decoder.h, encoder.h) never look a tensor up.
#ifndef SOBRE_ENGINE_MODEL_MODEL_H_
#define SOBRE_ENGINE_MODEL_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/ggml_type.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/hparams.h"

namespace sobre::engine {

class Vocab;

// A 2-D weight of the file: `rows` rows of `cols` values of `type`, row r at data + r * row_bytes.
// Points into the mapping; never copied.
struct WeightMatrix {
  const GgufTensorInfo* tensor = nullptr;  // nullptr when absent (optional weights)
  GgmlType type = GgmlType::kF32;
  const uint8_t* data = nullptr;
  int64_t cols = 0;  // ne0: the length of the input vector
  int64_t rows = 0;  // ne1: the number of outputs
  size_t row_bytes = 0;

  explicit operator bool() const { return tensor != nullptr; }
};

// Per-layer weights. 1-D tensors (norm gains, biases) are widened to f32 at load; an empty vector
// means the file has no such tensor.
struct LayerWeights {
  // Decoder (llama, qwen2).
  std::vector<float> attn_norm;
  std::vector<float> ffn_norm;
  WeightMatrix ffn_gate;
  // Both.
  WeightMatrix attn_q, attn_k, attn_v, attn_output;
  WeightMatrix ffn_up, ffn_down;
  std::vector<float> attn_q_bias, attn_k_bias, attn_v_bias;  // qwen2 and bert
  std::vector<float> attn_output_bias;                       // bert (optional for llama)
  // Encoder (bert): post-attention and post-FFN LayerNorms and the FFN biases.
  std::vector<float> attn_output_norm, attn_output_norm_bias;
  std::vector<float> layer_output_norm, layer_output_norm_bias;
  std::vector<float> ffn_up_bias, ffn_down_bias;
};

// Every weight of a model, bound by name.
struct ModelWeights {
  WeightMatrix token_embd;
  WeightMatrix output;             // token_embd when the file has no output.weight (tied)
  bool tied_output = false;
  std::vector<float> output_norm;  // decoders
  std::vector<float> rope_freqs;   // optional divisors of the RoPE frequencies (n_rot / 2)
  // bert embeddings.
  WeightMatrix position_embd;
  WeightMatrix token_types;
  std::vector<float> token_embd_norm, token_embd_norm_bias;
  std::vector<LayerWeights> layers;
};

// How Model::Load opens the file.
struct ModelOptions {
  // Ask the kernel to read the whole file ahead after mapping it; default off.
  bool prefetch = false;
  // Load the vocabulary (tokenizer.ggml.*); default on. Off for files made without one.
  bool load_vocab = true;
};

// Weights, hyper-parameters and vocabulary of one GGUF model. Immutable after Load; thread-safe
// for concurrent reads, so one Model serves any number of contexts.
class Model {
 public:
  // Opens and validates `path`: every tensor the architecture needs must exist with the expected
  // shape and a supported type, and tensors the engine does not implement (fused QKV, MoE, FFN
  // biases) are refused. Errors name the file and the tensor or key.
  static StatusOr<std::unique_ptr<Model>> Load(const std::string& path,
                                               const ModelOptions& options = {});
  // As Load, over a file already opened (tests build files in memory).
  static StatusOr<std::unique_ptr<Model>> FromFile(std::unique_ptr<GgufFile> file,
                                                   const ModelOptions& options = {});

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelHparams& hparams() const { return hparams_; }
  const ModelWeights& weights() const { return weights_; }
  const GgufFile& file() const { return *file_; }
  // The vocabulary; nullptr when loaded with load_vocab = false.
  const Vocab* vocab() const { return vocab_.get(); }
  // Bytes of weights one decoded token reads: every matrix of every layer plus the output matrix
  // (token_embd rows are read one per token and not counted).
  uint64_t weight_bytes_per_token() const;

 private:
  Model();
  Status Bind();

  std::unique_ptr<GgufFile> file_;
  ModelHparams hparams_;
  ModelWeights weights_;
  std::unique_ptr<Vocab> vocab_;
};

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_MODEL_MODEL_H_
