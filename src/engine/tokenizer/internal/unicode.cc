// Code-point helpers for the tokenizers. Categories, case and decomposition come from the system's
// libutf8proc (Unicode 15 on Debian 12); the White_Space list is the Unicode property.
#include "engine/tokenizer/internal/unicode.h"

#include <utf8proc.h>

#include <array>

namespace sobre::engine::tokenizer_internal {
namespace {

bool IsContinuation(uint8_t b) { return (b & 0xC0) == 0x80; }

// The 25 White_Space code points of Unicode 15 (PropList.txt).
bool IsWhiteSpace(uint32_t c) {
  if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D);
  switch (c) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

struct ByteMaps {
  std::array<uint32_t, 256> to_cpt{};
  std::array<int16_t, 324> from_cpt{};  // code points below 0x144 cover the whole image
};

ByteMaps BuildByteMaps() {
  ByteMaps m;
  m.from_cpt.fill(-1);
  uint32_t next = 0x100;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    m.to_cpt[b] = printable ? static_cast<uint32_t>(b) : next++;
    m.from_cpt[m.to_cpt[b]] = static_cast<int16_t>(b);
  }
  return m;
}

const ByteMaps& GetByteMaps() {
  static const ByteMaps maps = BuildByteMaps();
  return maps;
}

}  // namespace

size_t Utf8SequenceLength(uint8_t lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

std::vector<CodePoint> DecodeUtf8(std::string_view text) {
  std::vector<CodePoint> out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const uint8_t b = s[i];
    CodePoint cp{kReplacementChar, static_cast<uint32_t>(i), 1};
    if (b < 0x80) {
      cp.cpt = b;
    } else {
      size_t len = Utf8SequenceLength(b);
      if (len > 1 && i + len <= n) {
        uint32_t c = len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
        bool ok = true;
        for (size_t k = 1; k < len; ++k) {
          if (!IsContinuation(s[i + k])) {
            ok = false;
            break;
          }
          c = (c << 6) | (s[i + k] & 0x3F);
        }
        // Reject overlong forms, surrogates and values past U+10FFFF.
        static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (ok && c >= kMin[len] && c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF)) {
          cp.cpt = c;
          cp.bytes = static_cast<uint32_t>(len);
        }
      }
    }
    out.push_back(cp);
    i += cp.bytes;
  }
  return out;
}

void AppendUtf8(uint32_t c, std::string& out) {
  if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) c = kReplacementChar;
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

CharClass Classify(uint32_t c) {
  CharClass k;
  k.whitespace = IsWhiteSpace(c);
  if (c < 0x80) {  // ASCII without a table lookup: the common case.
    k.letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    k.number = c >= '0' && c <= '9';
    k.control = !k.whitespace && (c < 0x20 || c == 0x7F);
    if (!k.letter && !k.number && !k.whitespace && !k.control) {
      k.symbol = c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' ||
                 c == '`' || c == '|' || c == '~';
      k.punctuation = !k.symbol;
    }
    return k;
  }
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
      k.letter = true;
      break;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      k.number = true;
      break;
    case UTF8PROC_CATEGORY_MN:
      k.mark = k.nonspacing_mark = true;
      break;
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
      k.mark = true;
      break;
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      k.punctuation = true;
      break;
    case UTF8PROC_CATEGORY_SM: case UTF8PROC_CATEGORY_SC: case UTF8PROC_CATEGORY_SK:
    case UTF8PROC_CATEGORY_SO:
      k.symbol = true;
      break;
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF:
      k.control = !k.whitespace;
      break;
    default:
      break;
  }
  return k;
}

uint32_t ToLower(uint32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  return static_cast<uint32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
}

void AppendNfd(uint32_t c, std::vector<uint32_t>& out) {
  if (c < 0xC0) {
    out.push_back(c);
    return;
  }
  utf8proc_int32_t buf[32];
  int boundclass = 0;
  utf8proc_ssize_t n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buf, 32,
                                               UTF8PROC_DECOMPOSE, &boundclass);
  if (n <= 0 || n > 32) {
    out.push_back(c);
    return;
  }
  for (utf8proc_ssize_t i = 0; i < n; ++i) out.push_back(static_cast<uint32_t>(buf[i]));
}

bool IsCjkIdeograph(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

uint32_t ByteToCodePoint(uint8_t byte) { return GetByteMaps().to_cpt[byte]; }

int CodePointToByte(uint32_t cpt) {
  const ByteMaps& m = GetByteMaps();
  return cpt < m.from_cpt.size() ? m.from_cpt[cpt] : -1;
}

std::string ByteLevelEncode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) AppendUtf8(ByteToCodePoint(static_cast<uint8_t>(ch)), out);
  return out;
}

}  // namespace sobre::engine::tokenizer_internal
