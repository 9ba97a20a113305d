// ReadVocab: the tokenizer.* keys of a GGUF file into VocabData (reference §1.9).
#include <limits>
#include <string>

#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/vocab.h"

namespace sobre::engine {
namespace {

constexpr std::string_view kPrefix = "tokenizer.ggml.";

std::string Key(std::string_view name) { return std::string(kPrefix) + std::string(name); }

Status ReadOptionalId(const GgufFile& file, std::string_view name, int32_t& id) {
  const std::string key = Key(name);
  if (!file.Has(key)) return OkStatus();
  SOBRE_ASSIGN_OR_RETURN(int64_t v, file.GetInt(key));
  // llama.cpp writes -1 (as u32 0xFFFFFFFF in some converters) for "none".
  if (v < 0 || v == std::numeric_limits<uint32_t>::max()) return OkStatus();
  if (v > std::numeric_limits<int32_t>::max()) {
    return InvalidArgumentError(key + " = " + std::to_string(v) + " is out of range");
  }
  id = static_cast<int32_t>(v);
  return OkStatus();
}

Status ReadOptionalBool(const GgufFile& file, std::string_view name, std::optional<bool>& flag) {
  const std::string key = Key(name);
  if (!file.Has(key)) return OkStatus();
  SOBRE_ASSIGN_OR_RETURN(flag, file.GetBool(key));
  return OkStatus();
}

}  // namespace

StatusOr<VocabData> ReadVocab(const GgufFile& file) {
  VocabData v;
  SOBRE_ASSIGN_OR_RETURN(std::string_view model, file.GetString(Key("model")));
  v.model = std::string(model);
  if (file.Has(Key("pre"))) {
    SOBRE_ASSIGN_OR_RETURN(std::string_view pre, file.GetString(Key("pre")));
    v.pre = std::string(pre);
  }
  SOBRE_ASSIGN_OR_RETURN(std::vector<std::string_view> tokens, file.GetStringArray(Key("tokens")));
  v.tokens.assign(tokens.begin(), tokens.end());

  if (file.Has(Key("scores"))) {
    auto type = file.ArrayElementType(Key("scores"));
    if (type == GgufValueType::kFloat32 || type == GgufValueType::kFloat64) {
      SOBRE_ASSIGN_OR_RETURN(v.scores, file.GetFloatArray(Key("scores")));
    } else {  // llama.cpp also accepts integer scores
      SOBRE_ASSIGN_OR_RETURN(std::vector<int64_t> ints, file.GetIntArray(Key("scores")));
      v.scores.assign(ints.begin(), ints.end());
    }
  }
  if (file.Has(Key("token_type"))) {
    SOBRE_ASSIGN_OR_RETURN(std::vector<int64_t> types, file.GetIntArray(Key("token_type")));
    v.types.reserve(types.size());
    for (size_t i = 0; i < types.size(); ++i) {
      if (types[i] < 0 || types[i] > 6) {
        return InvalidArgumentError(Key("token_type") + "[" + std::to_string(i) + "] = " +
                                    std::to_string(types[i]) + " is not a token type (0-6)");
      }
      v.types.push_back(static_cast<TokenType>(types[i]));
    }
  }
  if (file.Has(Key("merges"))) {
    SOBRE_ASSIGN_OR_RETURN(std::vector<std::string_view> merges, file.GetStringArray(Key("merges")));
    v.merges.assign(merges.begin(), merges.end());
  }

  SOBRE_RETURN_IF_ERROR(ReadOptionalId(file, "bos_token_id", v.bos));
  if (v.bos < 0) SOBRE_RETURN_IF_ERROR(ReadOptionalId(file, "cls_token_id", v.bos));
  SOBRE_RETURN_IF_ERROR(ReadOptionalId(file, "eos_token_id", v.eos));
  SOBRE_RETURN_IF_ERROR(ReadOptionalId(file, "eot_token_id", v.eot));
  SOBRE_RETURN_IF_ERROR(ReadOptionalId(file, "eom_token_id", v.eom));
  SOBRE_RETURN_IF_ERROR(ReadOptionalId(file, "unknown_token_id", v.unk));
  // gguf-py spells it "seperator"; the GGUF spec spells it "separator". Accept both.
  SOBRE_RETURN_IF_ERROR(ReadOptionalId(file, "seperator_token_id", v.sep));
  if (v.sep < 0) SOBRE_RETURN_IF_ERROR(ReadOptionalId(file, "separator_token_id", v.sep));
  SOBRE_RETURN_IF_ERROR(ReadOptionalId(file, "padding_token_id", v.pad));
  SOBRE_RETURN_IF_ERROR(ReadOptionalId(file, "mask_token_id", v.mask));
  SOBRE_RETURN_IF_ERROR(ReadOptionalBool(file, "add_bos_token", v.add_bos));
  SOBRE_RETURN_IF_ERROR(ReadOptionalBool(file, "add_eos_token", v.add_eos));
  SOBRE_RETURN_IF_ERROR(ReadOptionalBool(file, "add_sep_token", v.add_sep));
  SOBRE_RETURN_IF_ERROR(ReadOptionalBool(file, "add_space_prefix", v.add_space_prefix));
  SOBRE_RETURN_IF_ERROR(ReadOptionalBool(file, "remove_extra_whitespaces", v.remove_extra_whitespaces));
  if (file.Has("tokenizer.chat_template")) {
    SOBRE_ASSIGN_OR_RETURN(std::string_view tmpl, file.GetString("tokenizer.chat_template"));
    v.chat_template = std::string(tmpl);
  }
  return v;
}

}  // namespace sobre::engine
