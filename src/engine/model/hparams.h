// Model hyper-parameters read from a GGUF file's `{arch}.*` keys (reference/engine.md §1.7), with
// the defaults llama.cpp applies and the RoPE pairing each architecture needs (§3.2).
#ifndef SOBRE_ENGINE_MODEL_HPARAMS_H_
#define SOBRE_ENGINE_MODEL_HPARAMS_H_

#include <string_view>

#include "core/status.h"
#include "engine/gguf/gguf_file.h"

namespace sobre::engine {

// The architectures the engine runs (general.architecture).
enum class Architecture { kLlama, kQwen2, kBert };

// "llama", "qwen2" or "bert".
std::string_view ArchitectureName(Architecture arch);

// Which dimensions RoPE rotates together: kNorm pairs (2i, 2i+1) (llama: the converter permuted
// the q/k rows into Meta's interleaved layout); kNeox pairs (i, i + n_rot/2) (qwen2, HF
// rotate_half).
enum class RopeKind { kNorm, kNeox };

// How an encoder turns per-token states into one vector ({arch}.pooling_type).
enum class Pooling { kNone = 0, kMean = 1, kCls = 2, kLast = 3 };

// Shape and constants of a model. All counts are positive and consistent once ReadHparams returns.
struct ModelHparams {
  Architecture arch = Architecture::kLlama;
  int n_vocab = 0;      // rows of token_embd.weight
  int n_embd = 0;       // width of the residual stream
  int n_layer = 0;      // transformer blocks
  int n_head = 0;       // query heads
  int n_head_kv = 0;    // key/value heads (GQA when below n_head; n_head divides by it)
  int head_dim = 0;     // per-head width (key_length, default n_embd / n_head)
  int n_ff = 0;         // feed-forward inner width
  int n_ctx_train = 0;  // trained context length (bert: the size of position_embd)
  int n_rot = 0;        // rotated dimensions per head (decoders; <= head_dim, even)
  float rope_base = 10000.0f;      // theta
  float rope_freq_scale = 1.0f;    // 1 / linear scaling factor
  float norm_eps = 1e-5f;          // RMSNorm (decoders) or LayerNorm (bert) epsilon
  RopeKind rope = RopeKind::kNorm;
  Pooling pooling = Pooling::kNone;  // bert default: mean
  bool causal = true;                // false for bert

  // n_head_kv * head_dim: the width of one token's K (and V) per layer.
  int kv_dim() const { return n_head_kv * head_dim; }
  // n_head * head_dim.
  int q_dim() const { return n_head * head_dim; }
};

// Reads and validates the hyper-parameters of `file` (general.architecture picks the prefix).
// `n_vocab` is left 0 (the model fills it from token_embd.weight). Unimplemented for unknown
// architectures and RoPE scaling types other than none/linear; InvalidArgument naming the key
// for missing or out-of-range values.
StatusOr<ModelHparams> ReadHparams(const GgufFile& file);

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_MODEL_HPARAMS_H_
