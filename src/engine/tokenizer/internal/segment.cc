// The three segmenters. SPM and BPE keep a linked list of symbols and a priority queue of
// candidate pairs with lazy deletion (a popped pair is skipped when either side has changed), so a
// text of n bytes costs O(n log n) whatever its shape.
#include <algorithm>
#include <cstdint>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/internal/tables.h"
#include "engine/tokenizer/internal/unicode.h"

namespace sobre::engine::tokenizer_internal {
namespace {

// Emits the byte tokens for `bytes`, or unk for a byte the vocabulary cannot represent (llama.cpp
// would drop it; a visible unk is kinder than silently lost input).
void EmitBytes(const Vocab::Tables& t, std::string_view bytes, std::vector<int32_t>& out) {
  for (char ch : bytes) {
    const int32_t id = t.byte_tokens[static_cast<uint8_t>(ch)];
    if (id >= 0) {
      out.push_back(id);
    } else if (t.data.unk >= 0) {
      out.push_back(t.data.unk);
    }
  }
}

struct SpmSymbol {
  int32_t prev = -1, next = -1;
  uint32_t begin = 0, len = 0;
};

struct SpmPair {
  float score = 0;
  int32_t left = 0, right = 0;
  uint32_t len = 0;  // bytes of the merged text, to detect a side that changed
};

// Highest score first; on ties the leftmost pair.
struct SpmPairOrder {
  bool operator()(const SpmPair& a, const SpmPair& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

struct BpeSymbol {
  int32_t prev = -1, next = -1;
  int32_t id = -1;   // -1 once merged away, or for a byte with no token
  uint32_t len = 0;  // bytes of the piece covered
};

struct BpePair {
  int32_t rank = 0;
  int32_t left = 0, right = 0;
  int32_t left_id = 0, right_id = 0;
  int32_t result = 0;
};

// Lowest rank first; on ties the leftmost pair.
struct BpePairOrder {
  bool operator()(const BpePair& a, const BpePair& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

void EncodeBpePiece(const Vocab::Tables& t, std::string_view piece, std::vector<int32_t>& out) {
  if (t.ignore_merges || piece.size() == 1) {
    const int32_t whole = t.Find(ByteLevelEncode(piece));
    if (whole >= 0) {
      out.push_back(whole);
      return;
    }
  }
  const int32_t n = static_cast<int32_t>(piece.size());
  std::vector<BpeSymbol> sym(n);
  for (int32_t i = 0; i < n; ++i) {
    sym[i] = {i - 1, i + 1 < n ? i + 1 : -1, t.byte_tokens[static_cast<uint8_t>(piece[i])], 1};
  }
  std::priority_queue<BpePair, std::vector<BpePair>, BpePairOrder> queue;
  auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0 || sym[l].id < 0 || sym[r].id < 0) return;
    auto it = t.merges.find(PairKey(sym[l].id, sym[r].id));
    if (it == t.merges.end()) return;
    queue.push({it->second.rank, l, r, sym[l].id, sym[r].id, it->second.result});
  };
  if (!t.merges.empty()) {
    for (int32_t i = 1; i < n; ++i) try_add(i - 1, i);
  }
  while (!queue.empty()) {
    const BpePair p = queue.top();
    queue.pop();
    BpeSymbol& l = sym[p.left];
    BpeSymbol& r = sym[p.right];
    if (l.len == 0 || r.len == 0 || l.next != p.right || l.id != p.left_id || r.id != p.right_id) {
      continue;  // stale
    }
    l.id = p.result;
    l.len += r.len;
    r.len = 0;
    r.id = -1;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = p.left;
    try_add(l.prev, p.left);
    try_add(p.left, l.next);
  }
  uint32_t offset = 0;
  for (int32_t i = 0; i >= 0 && i < n; i = sym[i].next) {
    if (sym[i].id >= 0) {
      out.push_back(sym[i].id);
    } else {
      EmitBytes(t, piece.substr(offset, sym[i].len), out);
    }
    offset += sym[i].len;
  }
}

bool IsWordPieceSplitChar(uint32_t c, const CharClass& k) {
  return k.punctuation || (c < 0x7F && k.symbol) || IsCjkIdeograph(c);
}

}  // namespace

void EncodeSpm(const Vocab::Tables& t, std::string_view text, std::vector<int32_t>& out) {
  std::vector<SpmSymbol> sym;
  sym.reserve(text.size());
  for (size_t offset = 0; offset < text.size();) {
    const size_t len =
        std::min(Utf8SequenceLength(static_cast<uint8_t>(text[offset])), text.size() - offset);
    const int32_t index = static_cast<int32_t>(sym.size());
    sym.push_back({index - 1, offset + len < text.size() ? index + 1 : -1,
                   static_cast<uint32_t>(offset), static_cast<uint32_t>(len)});
    offset += len;
  }
  std::priority_queue<SpmPair, std::vector<SpmPair>, SpmPairOrder> queue;
  auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const uint32_t len = sym[l].len + sym[r].len;
    const int32_t id = t.Find(text.substr(sym[l].begin, len));
    if (id < 0) return;
    const float score = t.data.scores.empty() ? 0.0f : t.data.scores[id];
    queue.push({score, l, r, len});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    const SpmPair p = queue.top();
    queue.pop();
    SpmSymbol& l = sym[p.left];
    SpmSymbol& r = sym[p.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != p.len) continue;  // stale
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = p.left;
    try_add(l.prev, p.left);
    try_add(p.left, l.next);
  }
  for (int32_t i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) {
    const std::string_view piece = text.substr(sym[i].begin, sym[i].len);
    const int32_t id = t.Find(piece);
    if (id >= 0) {
      out.push_back(id);
    } else {
      EmitBytes(t, piece, out);
    }
  }
}

void EncodeBpe(const Vocab::Tables& t, std::string_view text, std::vector<int32_t>& out) {
  for (std::string_view piece : PreTokenize(t.pre, text)) EncodeBpePiece(t, piece, out);
}

void EncodeWpm(const Vocab::Tables& t, std::string_view text, std::vector<int32_t>& out) {
  // Normalise (NFD, drop accents and controls, lower-case) and split into words.
  std::vector<std::string> words(1);
  std::vector<uint32_t> nfd;
  for (const CodePoint& cp : DecodeUtf8(text)) {
    nfd.clear();
    AppendNfd(cp.cpt, nfd);
    for (uint32_t c : nfd) {
      const CharClass k = Classify(c);
      if (k.whitespace) {
        if (!words.back().empty()) words.emplace_back();
        continue;
      }
      if (c == 0 || c == kReplacementChar || k.control || k.nonspacing_mark) continue;
      if (IsWordPieceSplitChar(c, k)) {
        if (!words.back().empty()) words.emplace_back();
        AppendUtf8(ToLower(c), words.back());
        words.emplace_back();
      } else {
        AppendUtf8(ToLower(c), words.back());
      }
    }
  }
  // Greedy longest match per word, with the phantom space (U+2581) in front.
  std::string word;
  for (const std::string& w : words) {
    if (w.empty()) continue;
    word = "\xE2\x96\x81" + w;
    const size_t start = out.size();
    const size_t n = word.size();
    for (size_t i = 0; i < n;) {
      size_t matched = 0;
      for (size_t j = std::min(n, i + t.max_token_bytes); j > i; --j) {
        const int32_t id = t.Find(std::string_view(word).substr(i, j - i));
        if (id >= 0) {
          out.push_back(id);
          matched = j;
          break;
        }
      }
      if (matched == 0) {
        out.resize(start);
        break;
      }
      i = matched;
    }
    if (out.size() == start && t.data.unk >= 0) out.push_back(t.data.unk);
  }
}

}  // namespace sobre::engine::tokenizer_internal
