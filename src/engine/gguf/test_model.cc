// Random-weight models. Weights come from a seeded generator with our own Box-Muller transform, so
// a given seed gives the same file with any standard library.
#include "engine/gguf/test_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <random>

#include <fmt/core.h>

#include "engine/gguf/weight_types.h"

namespace sobre::engine {
namespace {

constexpr char kChatMlTemplate[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] "
    "+ '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' "
    "}}{% endif %}";

// Token types as llama.cpp stores them (reference §1.9).
constexpr int32_t kTokenNormal = 1;
constexpr int32_t kTokenUnknown = 2;
constexpr int32_t kTokenControl = 3;

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Gaussian {
 public:
  explicit Gaussian(uint64_t seed) : rng_(seed) {}
  float Next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    // Two uniforms in (0, 1] from 53-bit integers.
    const double u1 = (static_cast<double>(rng_() >> 11) + 1.0) * 0x1.0p-53;
    const double u2 = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = static_cast<float>(r * std::sin(2.0 * std::numbers::pi * u2));
    has_spare_ = true;
    return static_cast<float>(r * std::cos(2.0 * std::numbers::pi * u2));
  }

 private:
  std::mt19937_64 rng_;
  bool has_spare_ = false;
  float spare_ = 0;
};

// Adds tensors, drawing their values and converting 2-D ones to the requested type.
class TensorMaker {
 public:
  TensorMaker(GgufWriter& out, const TestModelOptions& o, TestModelReport& report)
      : out_(out), o_(o), report_(report), gauss_(o.seed) {}

  // A 2-D weight [ne0, ne1] of N(0, sigma).
  Status Matrix(const std::string& name, uint64_t ne0, uint64_t ne1) {
    std::vector<float> v(ne0 * ne1);
    for (float& x : v) x = o_.weight_sigma * gauss_.Next();
    const GgmlType type = ChooseWeightType(o_.type, ne0);
    if (type != o_.type) {
      report_.fallbacks.push_back(fmt::format("{}: {} -> {} (row length {})", name,
                                              TraitsOf(o_.type).name, TraitsOf(type).name, ne0));
    }
    SOBRE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, EncodeRows(type, v, ne0));
    report_.parameters += v.size();
    return out_.AddTensor(name, type, {ne0, ne1}, std::move(bytes));
  }

  // A 1-D F32 vector: `center` + N(0, sigma) (norm gains centre on 1, biases on 0).
  Status Vector(const std::string& name, uint64_t n, float center) {
    std::vector<float> v(n);
    for (float& x : v) x = center + o_.weight_sigma * gauss_.Next();
    std::vector<uint8_t> bytes(n * sizeof(float));
    std::memcpy(bytes.data(), v.data(), bytes.size());
    report_.parameters += n;
    return out_.AddTensor(name, GgmlType::kF32, {n}, std::move(bytes));
  }

 private:
  GgufWriter& out_;
  const TestModelOptions& o_;
  TestModelReport& report_;
  Gaussian gauss_;
};

Status CheckSizes(const TestModelOptions& o, uint32_t kv_heads, uint32_t n_ff) {
  if (o.n_embd == 0 || o.n_layers == 0 || o.n_heads == 0 || kv_heads == 0 || n_ff == 0 ||
      o.n_ctx == 0) {
    return InvalidArgumentError("sizes must be positive (embd, layers, heads, kv-heads, ff, ctx)");
  }
  if (o.n_embd % o.n_heads != 0) {
    return InvalidArgumentError(
        fmt::format("{} heads do not divide the hidden size {}", o.n_heads, o.n_embd));
  }
  if ((o.n_embd / o.n_heads) % 2 != 0) {
    return InvalidArgumentError(
        fmt::format("head size {} is odd; RoPE needs an even head size", o.n_embd / o.n_heads));
  }
  if (o.n_heads % kv_heads != 0) {
    return InvalidArgumentError(
        fmt::format("{} kv heads do not divide {} heads", kv_heads, o.n_heads));
  }
  if (o.n_embd > 65536 || n_ff > 262144 || o.n_layers > 256 || o.n_ctx > 1048576) {
    return InvalidArgumentError("sizes too large for a test model");
  }
  return OkStatus();
}

}  // namespace

std::string Gpt2ByteToken(uint8_t byte) {
  // Printable bytes map to themselves; the other 68, in increasing order, to U+0100 onwards.
  auto printable = [](uint32_t b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  };
  uint32_t cp = byte;
  if (!printable(byte)) {
    uint32_t n = 0;
    for (uint32_t b = 0; b < byte; ++b) n += printable(b) ? 0 : 1;
    cp = 256 + n;
  }
  std::string out;
  AppendUtf8(out, cp);
  return out;
}

uint64_t WriteBuiltinByteVocab(GgufWriter& out) {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(Gpt2ByteToken(static_cast<uint8_t>(b)));
    types.push_back(kTokenNormal);
  }
  for (const char* special : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
    tokens.push_back(special);
    types.push_back(kTokenControl);
  }
  const uint64_t n = tokens.size();
  out.SetString("tokenizer.ggml.model", "gpt2");
  out.SetString("tokenizer.ggml.pre", "gpt-2");
  out.SetStringArray("tokenizer.ggml.tokens", std::move(tokens));
  out.SetInt32Array("tokenizer.ggml.token_type", std::move(types));
  out.SetStringArray("tokenizer.ggml.merges", {});
  out.SetUint32("tokenizer.ggml.bos_token_id", 256);  // <|endoftext|>
  out.SetUint32("tokenizer.ggml.eos_token_id", 258);  // <|im_end|>
  out.SetBool("tokenizer.ggml.add_bos_token", false);
  out.SetString("tokenizer.chat_template", kChatMlTemplate);
  return n;
}

uint64_t WriteBuiltinWordPieceVocab(GgufWriter& out) {
  // llama.cpp's form of a WordPiece vocabulary: word-initial pieces carry a "▁" prefix and
  // continuation pieces are stored bare (no "##").
  std::vector<std::string> tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  std::vector<int32_t> types = {kTokenControl, kTokenUnknown, kTokenControl, kTokenControl,
                                kTokenControl};
  std::vector<std::string> pieces;
  for (char c = 0x21; c < 0x7F; ++c) {
    if (c >= 'A' && c <= 'Z') continue;  // the normaliser lower-cases
    pieces.emplace_back(1, c);
  }
  for (const std::string& p : pieces) {
    tokens.push_back(p);
    types.push_back(kTokenNormal);
  }
  for (const std::string& p : pieces) {
    tokens.push_back("\xE2\x96\x81" + p);
    types.push_back(kTokenNormal);
  }
  const uint64_t n = tokens.size();
  out.SetString("tokenizer.ggml.model", "bert");
  out.SetStringArray("tokenizer.ggml.tokens", std::move(tokens));
  out.SetInt32Array("tokenizer.ggml.token_type", std::move(types));
  out.SetUint32("tokenizer.ggml.padding_token_id", 0);
  out.SetUint32("tokenizer.ggml.unknown_token_id", 1);
  out.SetUint32("tokenizer.ggml.bos_token_id", 2);  // [CLS]
  out.SetUint32("tokenizer.ggml.seperator_token_id", 3);  // [SEP]; llama.cpp's spelling
  out.SetUint32("tokenizer.ggml.eos_token_id", 3);
  out.SetUint32("tokenizer.ggml.mask_token_id", 4);
  out.SetBool("tokenizer.ggml.add_bos_token", true);
  out.SetBool("tokenizer.ggml.add_eos_token", true);
  out.SetUint32("tokenizer.ggml.token_type_count", 2);
  return n;
}

StatusOr<TestModelReport> BuildTestModel(const TestModelOptions& o, GgufWriter& out) {
  const bool bert = o.arch == "bert";
  if (!bert && o.arch != "llama" && o.arch != "qwen2") {
    return InvalidArgumentError(
        fmt::format("unknown architecture '{}' (expected llama, qwen2 or bert)", o.arch));
  }
  if (!IsWritableWeightType(o.type)) {
    return InvalidArgumentError(
        fmt::format("type {} cannot be written", TraitsOf(o.type).name));
  }
  const uint32_t kv_heads = o.n_kv_heads != 0 ? o.n_kv_heads
                            : bert            ? o.n_heads
                                              : std::max<uint32_t>(1, o.n_heads / 2);
  const uint32_t n_ff = o.n_ff != 0 ? o.n_ff : (bert ? 4 : 3) * o.n_embd;
  SOBRE_RETURN_IF_ERROR(CheckSizes(o, kv_heads, n_ff));
  if (bert && kv_heads != o.n_heads) {
    return InvalidArgumentError("bert has no grouped-query attention: kv heads must equal heads");
  }

  TestModelReport report;
  const std::string& a = o.arch;
  out.SetString("general.architecture", a);
  out.SetString("general.name", o.name);
  out.SetUint32("general.file_type", FileTypeFor(o.type));
  const bool quantised = o.type != GgmlType::kF32 && o.type != GgmlType::kF16 &&
                         o.type != GgmlType::kBF16;
  if (quantised) out.SetUint32("general.quantization_version", 2);

  if (o.vocab != nullptr) {
    bool any = false;
    for (std::string_view key : o.vocab->Keys()) {
      if (key.rfind("tokenizer.", 0) != 0) continue;
      SOBRE_RETURN_IF_ERROR(out.CopyKey(*o.vocab, key));
      any = true;
    }
    std::optional<uint64_t> n = o.vocab->ArrayLength("tokenizer.ggml.tokens");
    if (!any || !n || o.vocab->ArrayElementType("tokenizer.ggml.tokens") != GgufValueType::kString) {
      return InvalidArgumentError(
          fmt::format("{}: no tokenizer.ggml.tokens string array", o.vocab->path()));
    }
    if (*n == 0) return InvalidArgumentError(o.vocab->path() + ": the token list is empty");
    report.n_vocab = *n;
    if (bert && !out.Has("tokenizer.ggml.token_type_count")) {
      out.SetUint32("tokenizer.ggml.token_type_count", 2);
    }
  } else {
    report.n_vocab = bert ? WriteBuiltinWordPieceVocab(out) : WriteBuiltinByteVocab(out);
  }

  const uint32_t head_dim = o.n_embd / o.n_heads;
  out.SetUint32(a + ".context_length", o.n_ctx);
  out.SetUint32(a + ".embedding_length", o.n_embd);
  out.SetUint32(a + ".block_count", o.n_layers);
  out.SetUint32(a + ".feed_forward_length", n_ff);
  out.SetUint32(a + ".attention.head_count", o.n_heads);
  out.SetUint32(a + ".vocab_size", static_cast<uint32_t>(report.n_vocab));
  if (bert) {
    out.SetFloat32(a + ".attention.layer_norm_epsilon", 1e-12f);
    out.SetBool(a + ".attention.causal", false);
    out.SetUint32(a + ".pooling_type", 1);  // mean
  } else {
    out.SetUint32(a + ".attention.head_count_kv", kv_heads);
    out.SetUint32(a + ".rope.dimension_count", head_dim);
    const double base = o.rope_base != 0 ? o.rope_base : (a == "qwen2" ? 1e6 : 1e4);
    out.SetFloat32(a + ".rope.freq_base", static_cast<float>(base));
    out.SetFloat32(a + ".attention.layer_norm_rms_epsilon", a == "qwen2" ? 1e-6f : 1e-5f);
  }

  TensorMaker m(out, o, report);
  const uint64_t e = o.n_embd, v = report.n_vocab, q = o.n_heads * head_dim,
                 kv = kv_heads * head_dim, ff = n_ff;
  SOBRE_RETURN_IF_ERROR(m.Matrix("token_embd.weight", e, v));
  if (bert) {
    SOBRE_RETURN_IF_ERROR(m.Matrix("position_embd.weight", e, o.n_ctx));
    SOBRE_RETURN_IF_ERROR(m.Matrix("token_types.weight", e, 2));
    SOBRE_RETURN_IF_ERROR(m.Vector("token_embd_norm.weight", e, 1.0f));
    SOBRE_RETURN_IF_ERROR(m.Vector("token_embd_norm.bias", e, 0.0f));
  }
  for (uint32_t l = 0; l < o.n_layers; ++l) {
    const std::string b = fmt::format("blk.{}.", l);
    if (bert) {
      for (const char* t : {"attn_q", "attn_k", "attn_v", "attn_output"}) {
        SOBRE_RETURN_IF_ERROR(m.Matrix(b + t + ".weight", e, e));
        SOBRE_RETURN_IF_ERROR(m.Vector(b + t + ".bias", e, 0.0f));
      }
      SOBRE_RETURN_IF_ERROR(m.Vector(b + "attn_output_norm.weight", e, 1.0f));
      SOBRE_RETURN_IF_ERROR(m.Vector(b + "attn_output_norm.bias", e, 0.0f));
      SOBRE_RETURN_IF_ERROR(m.Matrix(b + "ffn_up.weight", e, ff));
      SOBRE_RETURN_IF_ERROR(m.Vector(b + "ffn_up.bias", ff, 0.0f));
      SOBRE_RETURN_IF_ERROR(m.Matrix(b + "ffn_down.weight", ff, e));
      SOBRE_RETURN_IF_ERROR(m.Vector(b + "ffn_down.bias", e, 0.0f));
      SOBRE_RETURN_IF_ERROR(m.Vector(b + "layer_output_norm.weight", e, 1.0f));
      SOBRE_RETURN_IF_ERROR(m.Vector(b + "layer_output_norm.bias", e, 0.0f));
      continue;
    }
    SOBRE_RETURN_IF_ERROR(m.Vector(b + "attn_norm.weight", e, 1.0f));
    SOBRE_RETURN_IF_ERROR(m.Matrix(b + "attn_q.weight", e, q));
    SOBRE_RETURN_IF_ERROR(m.Matrix(b + "attn_k.weight", e, kv));
    SOBRE_RETURN_IF_ERROR(m.Matrix(b + "attn_v.weight", e, kv));
    if (a == "qwen2") {
      SOBRE_RETURN_IF_ERROR(m.Vector(b + "attn_q.bias", q, 0.0f));
      SOBRE_RETURN_IF_ERROR(m.Vector(b + "attn_k.bias", kv, 0.0f));
      SOBRE_RETURN_IF_ERROR(m.Vector(b + "attn_v.bias", kv, 0.0f));
    }
    SOBRE_RETURN_IF_ERROR(m.Matrix(b + "attn_output.weight", q, e));
    SOBRE_RETURN_IF_ERROR(m.Vector(b + "ffn_norm.weight", e, 1.0f));
    SOBRE_RETURN_IF_ERROR(m.Matrix(b + "ffn_gate.weight", e, ff));
    SOBRE_RETURN_IF_ERROR(m.Matrix(b + "ffn_up.weight", e, ff));
    SOBRE_RETURN_IF_ERROR(m.Matrix(b + "ffn_down.weight", ff, e));
  }
  if (!bert) {
    SOBRE_RETURN_IF_ERROR(m.Vector("output_norm.weight", e, 1.0f));
    if (a == "llama" && !o.tied) SOBRE_RETURN_IF_ERROR(m.Matrix("output.weight", e, v));
  }
  return report;
}

}  // namespace sobre::engine
