// `sobre model tokenize` run as a real process on vocabulary-only GGUF files written by sobre's
// GGUF writer.
#include <stdlib.h>
#include <sys/wait.h>

#include <string>

#include <gtest/gtest.h>

#include "engine/gguf/gguf_writer.h"
#include "engine/tokenizer/internal/unicode.h"
#include "tests/cli/cli_runner.h"

namespace sobre::engine {
namespace {

using sobre::testing::CliResult;
using sobre::testing::TempDir;

// Runs `sobre args` with `input` on stdin.
CliResult RunWithStdin(const TempDir& dir, const std::string& args, const std::string& input) {
  const std::string in = dir.Write("stdin", input);
  const std::string cmd = std::string(SOBRE_BINARY) + " " + args + " <" + in + " >" + dir.path() +
                          "/stdout 2>" + dir.path() + "/stderr";
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = dir.Read("stdout");
  r.err = dir.Read("stderr");
  return r;
}

// 256 byte tokens, "he" (256), "hel" (257), <|im_end|> (258, control); merges "h e", "he l".
std::string WriteVocab(const TempDir& dir) {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetString("tokenizer.ggml.model", "gpt2");
  w.SetString("tokenizer.ggml.pre", "gpt-2");
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(tokenizer_internal::ByteLevelEncode(std::string(1, static_cast<char>(b))));
  }
  tokens.push_back("he");
  tokens.push_back("hel");
  tokens.push_back("<|im_end|>");
  std::vector<int32_t> types(tokens.size(), 1);
  types.back() = 3;
  w.SetStringArray("tokenizer.ggml.tokens", tokens);
  w.SetInt32Array("tokenizer.ggml.token_type", types);
  w.SetStringArray("tokenizer.ggml.merges", {"h e", "he l"});
  w.SetUint32("tokenizer.ggml.eos_token_id", 258);
  const std::string path = dir.path() + "/vocab.gguf";
  EXPECT_TRUE(w.WriteFile(path).ok());
  return path;
}

TEST(ModelTokenizeCliTest, PrintsIdsOnOneLine) {
  TempDir dir;
  const std::string vocab = WriteVocab(dir);
  CliResult r = RunWithStdin(dir, "model tokenize " + vocab, "hello<|im_end|>");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // "hello" is one piece: hel + l + o; the control token's text is plain text without the flag.
  EXPECT_EQ(r.out, "257 108 111 60 124 105 109 95 101 110 100 124 62\n");
  r = RunWithStdin(dir, "model tokenize --parse-special " + vocab, "hello<|im_end|>");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "257 108 111 258\n");
}

TEST(ModelTokenizeCliTest, PiecesListsEachToken) {
  TempDir dir;
  const std::string vocab = WriteVocab(dir);
  CliResult r = RunWithStdin(dir, "model tokenize --pieces --parse-special " + vocab, "he\n<|im_end|>");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "256 10 258\n256\t\"he\"\n10\t\"\\n\"\n258\t\"<|im_end|>\"\n");
}

TEST(ModelTokenizeCliTest, EmptyInputGivesAnEmptyLine) {
  TempDir dir;
  CliResult r = RunWithStdin(dir, "model tokenize " + WriteVocab(dir), "");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "\n");
}

TEST(ModelTokenizeCliTest, ClearErrors) {
  TempDir dir;
  CliResult r = RunWithStdin(dir, "model tokenize " + dir.path() + "/missing.gguf", "x");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("missing.gguf"), std::string::npos) << r.err;

  const std::string junk = dir.Write("junk.gguf", "this is not a gguf file at all");
  r = RunWithStdin(dir, "model tokenize " + junk, "x");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("junk.gguf"), std::string::npos) << r.err;

  GgufWriter w;  // a valid GGUF file without a vocabulary
  w.SetString("general.architecture", "llama");
  ASSERT_TRUE(w.WriteFile(dir.path() + "/novocab.gguf").ok());
  r = RunWithStdin(dir, "model tokenize " + dir.path() + "/novocab.gguf", "x");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("tokenizer.ggml.model"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sobre::engine
