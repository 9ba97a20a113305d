// Vocab on small hand-built vocabularies: validation errors that name the key, byte-level BPE with
// no merges (the make-test vocabulary), merge order, SPM byte fallback, WordPiece rules, special
// tokens, decoding and the streaming detokenizer.
#include "engine/tokenizer/vocab.h"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/tokenizer/internal/unicode.h"
#include "engine/tokenizer/streaming_detokenizer.h"

namespace sobre::engine {
namespace {

using tokenizer_internal::ByteLevelEncode;

// 256 byte tokens in GPT-2's mapped form, then `extra` tokens, then <|endoftext|> (control).
VocabData ByteLevelData(std::vector<std::string> extra = {}, std::vector<std::string> merges = {}) {
  VocabData d;
  d.model = "gpt2";
  d.pre = "gpt-2";
  for (int b = 0; b < 256; ++b) d.tokens.push_back(ByteLevelEncode(std::string(1, static_cast<char>(b))));
  for (std::string& t : extra) d.tokens.push_back(ByteLevelEncode(t));
  d.tokens.push_back("<|endoftext|>");
  d.types.assign(d.tokens.size(), TokenType::kNormal);
  d.types.back() = TokenType::kControl;
  d.eos = static_cast<int32_t>(d.tokens.size()) - 1;
  d.merges = std::move(merges);
  return d;
}

std::unique_ptr<Vocab> Make(VocabData d) {
  auto v = Vocab::Create(std::move(d));
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return v.ok() ? std::move(*v) : nullptr;
}

std::vector<int32_t> Bytes(std::string_view s) {
  std::vector<int32_t> out;
  for (char c : s) out.push_back(static_cast<uint8_t>(c));
  return out;
}

TEST(VocabTest, ByteLevelWithoutMergesGivesOneTokenPerByte) {
  auto v = Make(ByteLevelData());
  ASSERT_NE(v, nullptr);
  const std::string text = "héllo wörld 🦙\n\xff\xfe";  // ends in invalid UTF-8
  EXPECT_EQ(v->Encode(text), Bytes(text));
  EXPECT_EQ(v->Decode(v->Encode(text)), text);
}

TEST(VocabTest, ByteLevelMergesApplyInRankOrder) {
  // Ranks: "a b" first, then "b c"; "abc" only from "ab c". For "abc": ab wins over bc.
  auto v = Make(ByteLevelData({"ab", "bc", "abc"}, {"a b", "b c", "ab c"}));
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->Encode("abc"), std::vector<int32_t>{258});
  // With "b c" ranked first, "abc" cannot form ("a bc" is no merge): a, bc.
  auto w = Make(ByteLevelData({"ab", "bc", "abc"}, {"b c", "a b", "ab c"}));
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->Encode("abc"), (std::vector<int32_t>{'a', 257}));
}

TEST(VocabTest, ControlTokensNeedParseSpecial) {
  auto v = Make(ByteLevelData());
  ASSERT_NE(v, nullptr);
  const int32_t eot = v->n_tokens() - 1;
  EXPECT_EQ(v->Encode("x<|endoftext|>").size(), 14u);
  EXPECT_EQ(v->Encode("x<|endoftext|>", {.add_special = false, .parse_special = true}),
            (std::vector<int32_t>{'x', eot}));
  EXPECT_TRUE(v->IsEndOfGeneration(eot));
  EXPECT_EQ(v->Decode(std::vector<int32_t>{'x', eot}), "x");
  EXPECT_EQ(v->Decode(std::vector<int32_t>{'x', eot}, {.remove_leading_space = true, .render_special = true}),
            "x<|endoftext|>");
}

TEST(VocabTest, SpecialRangesLimitWhereControlTokensAreParsed) {
  auto v = Make(ByteLevelData());
  ASSERT_NE(v, nullptr);
  const int32_t eot = v->n_tokens() - 1;
  const std::string text = "<|endoftext|><|endoftext|>";
  const std::vector<std::pair<size_t, size_t>> ranges = {{0, 13}};
  EncodeOptions options{.add_special = false, .parse_special = true, .special_ranges = &ranges};
  const std::vector<int32_t> ids = v->Encode(text, options);
  ASSERT_EQ(ids.size(), 14u);
  EXPECT_EQ(ids[0], eot);
  EXPECT_NE(ids[1], eot);
}

TEST(VocabTest, CreateRejectsBadDataNamingTheKey) {
  VocabData d = ByteLevelData();
  d.types.pop_back();
  auto r = Vocab::Create(d);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tokenizer.ggml.token_type"), std::string::npos);

  d = ByteLevelData();
  d.bos = 1000000;
  r = Vocab::Create(d);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bos_token_id"), std::string::npos);

  d = ByteLevelData({}, {"nospace"});
  r = Vocab::Create(d);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tokenizer.ggml.merges[0]"), std::string::npos);

  d = ByteLevelData();
  d.pre = "klingon";
  r = Vocab::Create(d);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("klingon"), std::string::npos);

  d = ByteLevelData();
  d.model = "t5";
  r = Vocab::Create(d);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tokenizer.ggml.model"), std::string::npos);

  d = ByteLevelData();
  d.tokens.clear();
  d.types.clear();
  EXPECT_FALSE(Vocab::Create(d).ok());

  d = ByteLevelData();
  d.types[3] = static_cast<TokenType>(9);
  r = Vocab::Create(d);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("token_type[3]"), std::string::npos);
}

TEST(VocabTest, OutOfRangeIdsDecodeToNothing) {
  auto v = Make(ByteLevelData());
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->Decode(std::vector<int32_t>{-1, 1 << 30, 'a'}), "a");
  EXPECT_EQ(v->TokenToPiece(-5), "");
}

// A small SentencePiece vocabulary: unk, bos, eos, byte tokens, then pieces with scores.
VocabData SpmData() {
  VocabData d;
  d.model = "llama";
  d.tokens = {"<unk>", "<s>", "</s>"};
  d.types = {TokenType::kUnknown, TokenType::kControl, TokenType::kControl};
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    d.tokens.push_back(hex);
    d.types.push_back(TokenType::kByte);
  }
  // ids 259..: "▁", "h", "i", "▁h", "hi", "▁hi"
  for (const char* t : {"\xE2\x96\x81", "h", "i", "\xE2\x96\x81h", "hi", "\xE2\x96\x81hi"}) {
    d.tokens.push_back(t);
    d.types.push_back(TokenType::kNormal);
  }
  d.scores.assign(d.tokens.size(), 0.0f);
  d.scores[262] = -2;  // ▁h
  d.scores[263] = -1;  // hi  (higher than ▁h: merged first)
  d.scores[264] = -3;  // ▁hi
  return d;
}

TEST(VocabTest, SpmMergesByScoreAndFallsBackToBytes) {
  auto v = Make(SpmData());
  ASSERT_NE(v, nullptr);
  // " hi": "hi" (score -1) merges before "▁h" (-2), then ▁ + hi = ▁hi.
  EXPECT_EQ(v->Encode("hi"), std::vector<int32_t>{264});
  // "é" is not a piece: its two UTF-8 bytes become <0xC3> <0xA9> (ids 3 + byte).
  EXPECT_EQ(v->Encode("é"), (std::vector<int32_t>{259, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(v->Encode("hi", {.add_special = true}), (std::vector<int32_t>{1, 264}));
  EXPECT_EQ(v->Decode(v->Encode("hi é")), "hi é");
  EXPECT_EQ(v->Decode(v->Encode("hi é"), {.remove_leading_space = false}), " hi é");
  // After a control token the next fragment gets the dummy prefix again.
  EXPECT_EQ(v->Encode("hi</s>hi", {.add_special = false, .parse_special = true}),
            (std::vector<int32_t>{264, 2, 264}));
  EXPECT_EQ(v->Encode(""), std::vector<int32_t>{});
  EXPECT_EQ(v->Encode("", {.add_special = true}), std::vector<int32_t>{1});
}

TEST(VocabTest, StreamingHoldsBackIncompleteCharacters) {
  auto v = Make(SpmData());
  ASSERT_NE(v, nullptr);
  StreamingDetokenizer s(*v, {.remove_leading_space = false});
  EXPECT_EQ(s.Push(264), " hi");
  EXPECT_EQ(s.Push(3 + 0xC3), "");
  EXPECT_EQ(s.Push(3 + 0xA9), "é");
  EXPECT_EQ(s.Push(3 + 0xE6), "");
  EXPECT_EQ(s.Flush(), "\xE6");
  EXPECT_EQ(SanitizeUtf8("a\xE6"), "a\xEF\xBF\xBD");
  // A byte that can never start a character is not held back.
  StreamingDetokenizer t(*v);
  EXPECT_EQ(t.Push(3 + 0xFF), "\xFF");
}

VocabData BertData() {
  VocabData d;
  d.model = "bert";
  d.tokens.assign(104, "");
  for (int i = 0; i < 104; ++i) d.tokens[i] = "[unused" + std::to_string(i) + "]";
  d.tokens[0] = "[PAD]";
  d.tokens[100] = "[UNK]";
  d.tokens[101] = "[CLS]";
  d.tokens[102] = "[SEP]";
  d.tokens[103] = "[MASK]";
  d.types.assign(104, TokenType::kNormal);
  for (int id : {0, 100, 101, 102, 103}) d.types[id] = TokenType::kControl;
  // 104..: ▁straw, berries, ▁i, ▁!, ▁漢, ▁字, ▁$, ▁cafe
  for (const char* t : {"\xE2\x96\x81straw", "berries", "\xE2\x96\x81i", "\xE2\x96\x81!",
                        "\xE2\x96\x81\xE6\xBC\xA2", "\xE2\x96\x81\xE5\xAD\x97", "\xE2\x96\x81$",
                        "\xE2\x96\x81" "cafe"}) {
    d.tokens.push_back(t);
    d.types.push_back(TokenType::kNormal);
  }
  return d;
}

TEST(VocabTest, WordPieceNormalisesSplitsAndFallsBackToUnk) {
  auto v = Make(BertData());
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->Encode("  STRAWberries!\tI "), (std::vector<int32_t>{104, 105, 107, 106}));
  EXPECT_EQ(v->Encode("漢字"), (std::vector<int32_t>{108, 109}));
  EXPECT_EQ(v->Encode("Café$"), (std::vector<int32_t>{111, 110}));
  EXPECT_EQ(v->Encode("strawx i"), (std::vector<int32_t>{100, 106}));  // whole word unknown
  EXPECT_EQ(v->Encode("i", {.add_special = true}), (std::vector<int32_t>{101, 106, 102}));
  EXPECT_EQ(v->Decode(v->Encode("strawberries i")), "strawberries i");
}

TEST(VocabTest, DefaultsPerModel) {
  auto spm = Make(SpmData());
  ASSERT_NE(spm, nullptr);
  EXPECT_EQ(spm->bos(), 1);
  EXPECT_EQ(spm->eos(), 2);
  EXPECT_TRUE(spm->add_bos());
  EXPECT_TRUE(spm->IsEndOfGeneration(2));
  VocabData d = SpmData();
  d.add_bos = false;
  d.add_space_prefix = false;
  auto no_bos = Make(d);
  ASSERT_NE(no_bos, nullptr);
  EXPECT_EQ(no_bos->Encode("hi", {.add_special = true}), std::vector<int32_t>{263});
  VocabData l3 = ByteLevelData();
  l3.pre = "llama-bpe";
  l3.bos = 0;
  auto llama3 = Make(l3);
  ASSERT_NE(llama3, nullptr);
  EXPECT_TRUE(llama3->add_bos());
}

}  // namespace
}  // namespace sobre::engine
