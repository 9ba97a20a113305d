// Vocab: validation and per-model defaults (llama.cpp's `llama_vocab::load`, reference §1.9), the
// special-token partition and BOS/EOS rules of §4.1, and decoding.
#include "engine/tokenizer/vocab.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <utility>

#include "engine/tokenizer/internal/tables.h"
#include "engine/tokenizer/internal/unicode.h"

namespace sobre::engine {

using tokenizer_internal::ModelKind;

namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// Texts of tokens that end a generation whatever the file names as eos (llama.cpp's list).
constexpr std::string_view kEndMarkers[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>",         "<end_of_turn>", "<|endoftext|>",
    "<|eom_id|>", "<EOT>",      "<|end_of_text|>", "<|return|>",    "<|call|>",
};

bool IsSpecialType(TokenType t) {
  return t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUnused;
}

// Applies `fallback` to an unset id when it names a token, and checks a set id is in range.
Status ResolveId(int32_t& id, int32_t fallback, int32_t n, std::string_view key) {
  if (id < 0) {
    id = fallback < n ? fallback : -1;
    return OkStatus();
  }
  if (id >= n) {
    return InvalidArgumentError("tokenizer.ggml." + std::string(key) + " = " + std::to_string(id) +
                                " is out of range (" + std::to_string(n) + " tokens)");
  }
  return OkStatus();
}

void ReplaceAll(std::string& s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out.append(to);
  }
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

// Whether a match of a special token of `type` at [begin, begin + len) may become that token.
bool Allowed(const EncodeOptions& options, TokenType type, size_t begin, size_t len) {
  if (type == TokenType::kUserDefined || options.special_ranges == nullptr) return true;
  const auto& ranges = *options.special_ranges;
  auto it = std::upper_bound(ranges.begin(), ranges.end(), std::make_pair(begin, SIZE_MAX));
  if (it == ranges.begin()) return false;
  --it;
  return it->first <= begin && begin + len <= it->second;
}

// A piece of the input: raw text (id < 0) or a special token matched in it.
struct Fragment {
  int32_t id = -1;
  size_t begin = 0, len = 0;
};

}  // namespace

StatusOr<std::unique_ptr<Vocab>> Vocab::Create(VocabData data) {
  auto t = std::make_unique<Tables>();
  if (data.model == "llama") {
    t->model = ModelKind::kSpm;
  } else if (data.model == "gpt2") {
    t->model = ModelKind::kBpe;
  } else if (data.model == "bert") {
    t->model = ModelKind::kWpm;
  } else {
    return UnimplementedError("tokenizer.ggml.model \"" + data.model +
                              "\" is not supported (llama, gpt2, bert)");
  }
  if (data.tokens.empty()) return InvalidArgumentError("tokenizer.ggml.tokens is empty");
  if (data.tokens.size() > (1u << 30)) return InvalidArgumentError("tokenizer.ggml.tokens: too many tokens");
  const int32_t n = static_cast<int32_t>(data.tokens.size());
  if (!data.scores.empty() && data.scores.size() != data.tokens.size()) {
    return InvalidArgumentError("tokenizer.ggml.scores has " + std::to_string(data.scores.size()) +
                                " entries for " + std::to_string(n) + " tokens");
  }
  if (!data.types.empty() && data.types.size() != data.tokens.size()) {
    return InvalidArgumentError("tokenizer.ggml.token_type has " + std::to_string(data.types.size()) +
                                " entries for " + std::to_string(n) + " tokens");
  }
  if (data.types.empty()) data.types.assign(data.tokens.size(), TokenType::kNormal);
  for (size_t i = 0; i < data.types.size(); ++i) {
    const auto v = static_cast<int32_t>(data.types[i]);
    if (v < 0 || v > 6) {
      return InvalidArgumentError("tokenizer.ggml.token_type[" + std::to_string(i) + "] = " +
                                  std::to_string(v) + " is not a token type (0-6)");
    }
  }

  // Per-model defaults, then the file's overrides (reference §1.9).
  bool add_bos = false, add_sep = false, add_space_prefix = false;
  int32_t bos = -1, eos = -1, unk = -1, sep = -1, pad = -1, mask = -1;
  switch (t->model) {
    case ModelKind::kSpm:
      bos = 1, eos = 2, unk = 0;
      add_bos = true, add_space_prefix = true;
      break;
    case ModelKind::kWpm:
      bos = 101, unk = 100, sep = 102, pad = 0, mask = 103;
      add_bos = true, add_sep = true;
      break;
    case ModelKind::kBpe: {
      if (data.pre.empty()) data.pre = "default";  // llama.cpp warns: quality degraded
      auto pre = tokenizer_internal::PreTokenizerFromName(data.pre);
      if (!pre) {
        return UnimplementedError("tokenizer.ggml.pre \"" + data.pre +
                                  "\" is not supported (default, gpt-2, llama-bpe, qwen2, smollm)");
      }
      t->pre = *pre;
      if (*pre == tokenizer_internal::PreTokenizer::kLlama3) {
        t->ignore_merges = true;
        add_bos = true;
      }
      break;
    }
  }
  SOBRE_RETURN_IF_ERROR(ResolveId(data.bos, bos, n, "bos_token_id"));
  SOBRE_RETURN_IF_ERROR(ResolveId(data.eos, eos, n, "eos_token_id"));
  SOBRE_RETURN_IF_ERROR(ResolveId(data.eot, -1, n, "eot_token_id"));
  SOBRE_RETURN_IF_ERROR(ResolveId(data.eom, -1, n, "eom_token_id"));
  SOBRE_RETURN_IF_ERROR(ResolveId(data.unk, unk, n, "unknown_token_id"));
  SOBRE_RETURN_IF_ERROR(ResolveId(data.sep, sep, n, "seperator_token_id"));
  SOBRE_RETURN_IF_ERROR(ResolveId(data.pad, pad, n, "padding_token_id"));
  SOBRE_RETURN_IF_ERROR(ResolveId(data.mask, mask, n, "mask_token_id"));
  if (!data.add_bos) data.add_bos = add_bos;
  if (!data.add_eos) data.add_eos = false;
  if (!data.add_sep) data.add_sep = add_sep;
  if (!data.add_space_prefix) data.add_space_prefix = add_space_prefix;
  t->add_bos = *data.add_bos && data.bos >= 0;
  t->add_eos = *data.add_eos && data.eos >= 0;
  t->add_sep = *data.add_sep && data.sep >= 0;
  t->add_space_prefix = *data.add_space_prefix;

  t->token_to_id.reserve(data.tokens.size());
  for (int32_t id = 0; id < n; ++id) {
    const std::string& text = data.tokens[id];
    if (text.empty()) continue;
    t->token_to_id.insert_or_assign(text, id);
    t->max_token_bytes = std::max(t->max_token_bytes, text.size());
  }
  for (int b = 0; b < 256; ++b) {
    int32_t id = -1;
    if (t->model == ModelKind::kSpm) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "<0x%02X>", b);
      id = t->Find(hex);
      if (id < 0) id = t->Find(std::string(1, static_cast<char>(b)));
    } else if (t->model == ModelKind::kBpe) {
      std::string mapped;
      tokenizer_internal::AppendUtf8(tokenizer_internal::ByteToCodePoint(static_cast<uint8_t>(b)), mapped);
      id = t->Find(mapped);
    }
    t->byte_tokens[b] = id;
  }

  if (t->model == ModelKind::kBpe) {
    t->merges.reserve(data.merges.size());
    std::string joined;
    for (size_t rank = 0; rank < data.merges.size(); ++rank) {
      const std::string& m = data.merges[rank];
      const size_t space = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
      if (space == std::string::npos) {
        return InvalidArgumentError("tokenizer.ggml.merges[" + std::to_string(rank) +
                                    "] has no space between its two parts");
      }
      const std::string_view left = std::string_view(m).substr(0, space);
      const std::string_view right = std::string_view(m).substr(space + 1);
      joined.assign(left).append(right);
      const int32_t l = t->Find(left), r = t->Find(right), result = t->Find(joined);
      // A merge whose parts or result are not tokens can never apply to token symbols.
      if (l < 0 || r < 0 || result < 0) continue;
      t->merges.try_emplace(tokenizer_internal::PairKey(l, r),
                            tokenizer_internal::Merge{static_cast<int32_t>(rank), result});
    }
  }

  for (int32_t id = 0; id < n; ++id) {
    const TokenType type = data.types[id];
    if (data.tokens[id].empty()) continue;
    if (type == TokenType::kControl || type == TokenType::kUserDefined || type == TokenType::kUnknown) {
      t->specials.push_back(id);
    }
    if (type != TokenType::kNormal && type != TokenType::kByte &&
        std::find(std::begin(kEndMarkers), std::end(kEndMarkers), data.tokens[id]) !=
            std::end(kEndMarkers)) {
      t->eog_ids.push_back(id);
    }
  }
  std::stable_sort(t->specials.begin(), t->specials.end(), [&](int32_t a, int32_t b) {
    return data.tokens[a].size() > data.tokens[b].size();
  });
  for (int32_t id : {data.eos, data.eot, data.eom}) {
    if (id >= 0) t->eog_ids.push_back(id);
  }
  std::sort(t->eog_ids.begin(), t->eog_ids.end());
  t->eog_ids.erase(std::unique(t->eog_ids.begin(), t->eog_ids.end()), t->eog_ids.end());

  t->data = std::move(data);
  return std::unique_ptr<Vocab>(new Vocab(std::move(t)));
}

Vocab::Vocab(std::unique_ptr<Tables> tables) : tables_(std::move(tables)) {}
Vocab::~Vocab() = default;

std::vector<int32_t> Vocab::Encode(std::string_view text, EncodeOptions options) const {
  const Tables& t = *tables_;
  // Cut the text around special tokens, longest first (llama.cpp's tokenizer_st_partition).
  std::vector<Fragment> fragments;
  if (!text.empty()) fragments.push_back({-1, 0, text.size()});
  std::vector<Fragment> next;
  for (int32_t id : t.specials) {
    const TokenType type = t.data.types[id];
    if (!options.parse_special && type != TokenType::kUserDefined) continue;
    const std::string& special = t.data.tokens[id];
    bool found = false;
    for (const Fragment& f : fragments) {
      if (f.id < 0 && text.substr(f.begin, f.len).find(special) != std::string_view::npos) {
        found = true;
        break;
      }
    }
    if (!found) continue;
    next.clear();
    for (const Fragment& f : fragments) {
      if (f.id >= 0) {
        next.push_back(f);
        continue;
      }
      const std::string_view raw = text.substr(f.begin, f.len);
      size_t pos = 0;
      for (size_t from = 0, hit; (hit = raw.find(special, from)) != std::string_view::npos;) {
        if (!Allowed(options, type, f.begin + hit, special.size())) {
          from = hit + 1;
          continue;
        }
        if (hit > pos) next.push_back({-1, f.begin + pos, hit - pos});
        next.push_back({id, 0, 0});
        pos = from = hit + special.size();
      }
      if (pos < raw.size()) next.push_back({-1, f.begin + pos, raw.size() - pos});
    }
    fragments.swap(next);
  }

  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (options.add_special && t.add_bos) out.push_back(t.data.bos);
  bool prev_special = true;  // SPM: the first fragment, and one after a special, get the prefix
  std::string escaped;
  for (const Fragment& f : fragments) {
    if (f.id >= 0) {
      out.push_back(f.id);
      prev_special = true;
      continue;
    }
    const std::string_view raw = text.substr(f.begin, f.len);
    switch (t.model) {
      case ModelKind::kSpm:
        escaped.clear();
        if (t.add_space_prefix && prev_special) escaped += ' ';
        escaped += raw;
        ReplaceAll(escaped, " ", kSpmSpace);
        tokenizer_internal::EncodeSpm(t, escaped, out);
        break;
      case ModelKind::kBpe:
        tokenizer_internal::EncodeBpe(t, raw, out);
        break;
      case ModelKind::kWpm:
        tokenizer_internal::EncodeWpm(t, raw, out);
        break;
    }
    prev_special = false;
  }
  if (options.add_special && t.add_eos) out.push_back(t.data.eos);
  if (options.add_special && t.model == ModelKind::kWpm && t.add_sep) out.push_back(t.data.sep);
  return out;
}

std::string Vocab::TokenToPiece(int32_t id, bool render_special) const {
  const Tables& t = *tables_;
  if (id < 0 || id >= n_tokens()) return {};
  const std::string& text = t.data.tokens[id];
  const TokenType type = t.data.types[id];
  if (IsSpecialType(type)) return render_special ? text : std::string();
  if (type == TokenType::kUserDefined) return text;
  std::string out;
  switch (t.model) {
    case ModelKind::kSpm:
      if (type == TokenType::kByte && text.size() == 6 && text.starts_with("<0x") && text.back() == '>') {
        unsigned value = 0;
        if (std::sscanf(text.c_str() + 3, "%2x", &value) == 1) return std::string(1, static_cast<char>(value));
      }
      [[fallthrough]];
    case ModelKind::kWpm:
      out = text;
      ReplaceAll(out, kSpmSpace, " ");
      return out;
    case ModelKind::kBpe:
      for (const auto& cp : tokenizer_internal::DecodeUtf8(text)) {
        const int byte = tokenizer_internal::CodePointToByte(cp.cpt);
        if (byte >= 0 && cp.cpt != tokenizer_internal::kReplacementChar) {
          out += static_cast<char>(byte);
        } else {
          out.append(text, cp.offset, cp.bytes);  // not a byte-level token: keep as it is
        }
      }
      return out;
  }
  return out;
}

void Vocab::AppendDecoded(int32_t id, const DecodeOptions& options, bool& at_start,
                          std::string& out) const {
  std::string piece = TokenToPiece(id, options.render_special);
  if (piece.empty()) return;
  const Tables& t = *tables_;
  const bool text_token = !IsSpecialType(Type(id)) && Type(id) != TokenType::kUserDefined;
  if (at_start && text_token && options.remove_leading_space && piece[0] == ' ' &&
      ((t.model == ModelKind::kSpm && t.add_space_prefix) || t.model == ModelKind::kWpm)) {
    piece.erase(0, 1);
  }
  at_start = false;
  out += piece;
}

std::string Vocab::Decode(std::span<const int32_t> ids, DecodeOptions options) const {
  std::string out;
  bool at_start = true;
  for (int32_t id : ids) AppendDecoded(id, options, at_start, out);
  return out;
}

std::string_view Vocab::TokenText(int32_t id) const {
  return id >= 0 && id < n_tokens() ? std::string_view(tables_->data.tokens[id]) : std::string_view();
}
TokenType Vocab::Type(int32_t id) const {
  return id >= 0 && id < n_tokens() ? tables_->data.types[id] : TokenType::kUndefined;
}
int32_t Vocab::Find(std::string_view text) const { return tables_->Find(text); }
int32_t Vocab::n_tokens() const { return static_cast<int32_t>(tables_->data.tokens.size()); }
int32_t Vocab::bos() const { return tables_->data.bos; }
int32_t Vocab::eos() const { return tables_->data.eos; }
bool Vocab::add_bos() const { return tables_->add_bos; }
bool Vocab::add_eos() const { return tables_->add_eos; }
bool Vocab::IsEndOfGeneration(int32_t id) const {
  return std::binary_search(tables_->eog_ids.begin(), tables_->eog_ids.end(), id);
}
const std::vector<int32_t>& Vocab::end_of_generation_ids() const { return tables_->eog_ids; }
const VocabData& Vocab::data() const { return tables_->data; }

}  // namespace sobre::engine
