// ReadHparams: the `{arch}.*` keys, their defaults, and sanity limits so that a hostile file
// cannot make the engine allocate absurd scratch buffers.
#include "engine/model/hparams.h"

#include <cmath>
#include <string>

#include "fmt/format.h"

namespace sobre::engine {
namespace {

// Generous upper bounds: far above any model the engine targets, low enough that products of
// two of them fit easily in 64 bits.
constexpr uint64_t kMaxWidth = 1 << 20;
constexpr uint64_t kMaxLayers = 4096;
constexpr uint64_t kMaxHeads = 4096;
constexpr uint64_t kMaxContext = 1 << 24;

StatusOr<int> ReadCount(const GgufFile& file, const std::string& key, uint64_t max,
                        std::optional<uint64_t> fallback = std::nullopt) {
  StatusOr<uint64_t> v = fallback ? file.GetUintOr(key, *fallback) : file.GetUint(key);
  if (!v.ok()) return v.status();
  if (*v == 0 || *v > max) {
    return InvalidArgumentError(fmt::format("key {} = {} is out of range [1, {}]", key, *v, max));
  }
  return static_cast<int>(*v);
}

StatusOr<float> ReadPositiveFloat(const GgufFile& file, const std::string& key,
                                  std::optional<double> fallback = std::nullopt) {
  StatusOr<double> v = fallback ? file.GetFloatOr(key, *fallback) : file.GetFloat(key);
  if (!v.ok()) return v.status();
  if (!std::isfinite(*v) || *v <= 0) {
    return InvalidArgumentError(fmt::format("key {} = {} must be a positive number", key, *v));
  }
  return static_cast<float>(*v);
}

}  // namespace

std::string_view ArchitectureName(Architecture arch) {
  switch (arch) {
    case Architecture::kLlama: return "llama";
    case Architecture::kQwen2: return "qwen2";
    case Architecture::kBert: return "bert";
  }
  return "?";
}

StatusOr<ModelHparams> ReadHparams(const GgufFile& file) {
  SOBRE_ASSIGN_OR_RETURN(std::string_view arch_name, file.GetString("general.architecture"));
  ModelHparams hp;
  if (arch_name == "llama") {
    hp.arch = Architecture::kLlama;
    hp.rope = RopeKind::kNorm;
  } else if (arch_name == "qwen2") {
    hp.arch = Architecture::kQwen2;
    hp.rope = RopeKind::kNeox;
  } else if (arch_name == "bert") {
    hp.arch = Architecture::kBert;
    hp.causal = false;
  } else {
    return UnimplementedError(fmt::format(
        "architecture '{}' is not supported (supported: llama, qwen2, bert)", arch_name));
  }
  const std::string p = std::string(arch_name) + ".";
  const bool bert = hp.arch == Architecture::kBert;

  SOBRE_ASSIGN_OR_RETURN(hp.n_embd, ReadCount(file, p + "embedding_length", kMaxWidth));
  SOBRE_ASSIGN_OR_RETURN(hp.n_layer, ReadCount(file, p + "block_count", kMaxLayers));
  SOBRE_ASSIGN_OR_RETURN(hp.n_ff, ReadCount(file, p + "feed_forward_length", kMaxWidth));
  SOBRE_ASSIGN_OR_RETURN(hp.n_head, ReadCount(file, p + "attention.head_count", kMaxHeads));
  SOBRE_ASSIGN_OR_RETURN(hp.n_head_kv, ReadCount(file, p + "attention.head_count_kv", kMaxHeads,
                                                 static_cast<uint64_t>(hp.n_head)));
  SOBRE_ASSIGN_OR_RETURN(hp.n_ctx_train, ReadCount(file, p + "context_length", kMaxContext,
                                                   bert ? std::nullopt
                                                        : std::optional<uint64_t>(4096)));
  if (hp.n_head % hp.n_head_kv != 0) {
    return InvalidArgumentError(fmt::format("{}attention.head_count {} is not a multiple of "
                                            "head_count_kv {}", p, hp.n_head, hp.n_head_kv));
  }
  if (hp.n_embd % hp.n_head != 0 && !file.Has(p + "attention.key_length")) {
    return InvalidArgumentError(fmt::format("{}embedding_length {} is not a multiple of "
                                            "attention.head_count {}", p, hp.n_embd, hp.n_head));
  }
  SOBRE_ASSIGN_OR_RETURN(hp.head_dim, ReadCount(file, p + "attention.key_length", kMaxWidth,
                                                static_cast<uint64_t>(hp.n_embd / hp.n_head)));
  SOBRE_ASSIGN_OR_RETURN(int value_length,
                         ReadCount(file, p + "attention.value_length", kMaxWidth,
                                   static_cast<uint64_t>(hp.head_dim)));
  if (value_length != hp.head_dim) {
    return UnimplementedError(fmt::format("{}attention.value_length {} differs from key_length {}",
                                          p, value_length, hp.head_dim));
  }

  if (bert) {
    SOBRE_ASSIGN_OR_RETURN(hp.norm_eps,
                           ReadPositiveFloat(file, p + "attention.layer_norm_epsilon", 1e-12));
    SOBRE_ASSIGN_OR_RETURN(uint64_t pooling, file.GetUintOr(p + "pooling_type", 1));
    if (pooling != 1 && pooling != 2) {
      return UnimplementedError(fmt::format(
          "{}pooling_type {} is not supported (1 = mean, 2 = CLS)", p, pooling));
    }
    hp.pooling = static_cast<Pooling>(pooling);
    SOBRE_ASSIGN_OR_RETURN(bool causal, file.GetBoolOr(p + "attention.causal", false));
    if (causal) return UnimplementedError(p + "attention.causal = true is not supported");
    hp.n_rot = 0;
    return hp;
  }

  SOBRE_ASSIGN_OR_RETURN(hp.norm_eps,
                         ReadPositiveFloat(file, p + "attention.layer_norm_rms_epsilon", 1e-5));
  SOBRE_ASSIGN_OR_RETURN(hp.rope_base, ReadPositiveFloat(file, p + "rope.freq_base", 10000.0));
  SOBRE_ASSIGN_OR_RETURN(hp.n_rot, ReadCount(file, p + "rope.dimension_count", kMaxWidth,
                                             static_cast<uint64_t>(hp.head_dim)));
  if (hp.n_rot > hp.head_dim || hp.n_rot % 2 != 0) {
    return InvalidArgumentError(fmt::format("{}rope.dimension_count {} must be even and at most "
                                            "the head size {}", p, hp.n_rot, hp.head_dim));
  }
  SOBRE_ASSIGN_OR_RETURN(std::string_view scaling, file.GetStringOr(p + "rope.scaling.type", "none"));
  float factor = 1.0f;
  if (scaling == "linear") {
    SOBRE_ASSIGN_OR_RETURN(factor, ReadPositiveFloat(file, p + "rope.scaling.factor", 1.0));
  } else if (scaling != "none") {
    return UnimplementedError(fmt::format("{}rope.scaling.type '{}' is not supported "
                                          "(supported: none, linear)", p, scaling));
  }
  if (file.Has(p + "rope.scale_linear")) {
    SOBRE_ASSIGN_OR_RETURN(factor, ReadPositiveFloat(file, p + "rope.scale_linear"));
  }
  hp.rope_freq_scale = 1.0f / factor;
  SOBRE_ASSIGN_OR_RETURN(uint64_t pooling, file.GetUintOr(p + "pooling_type", 0));
  if (pooling != 0) {
    return UnimplementedError(fmt::format("{}pooling_type {}: decoder embedding models are not "
                                          "supported", p, pooling));
  }
  return hp;
}

}  // namespace sobre::engine
