// `sobre model tokenize FILE`: text on stdin, token ids on stdout (one line, space-separated).
// Works on vocabulary-only GGUF files: only the tokenizer.* keys are read.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/vocab.h"

namespace sobre::cli {
namespace {

struct TokenizeFlags {
  std::string file;
  bool add_special = false;
  bool parse_special = false;
  bool pieces = false;
};

std::string ReadStdin() {
  std::string text;
  char buf[1 << 16];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, stdin)) > 0;) text.append(buf, n);
  return text;
}

// A piece as a JSON-style string literal, so that spaces, newlines and bytes stay visible.
std::string Quote(const std::string& piece) {
  std::string out = "\"";
  for (unsigned char c : piece) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "\\x%02x", c);
          out += hex;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

StatusOr<std::unique_ptr<engine::Vocab>> LoadVocab(const std::string& path) {
  SOBRE_ASSIGN_OR_RETURN(std::unique_ptr<engine::GgufFile> file, engine::GgufFile::Open(path));
  StatusOr<engine::VocabData> data = engine::ReadVocab(*file);
  if (!data.ok()) return data.status().WithContext(path);
  StatusOr<std::unique_ptr<engine::Vocab>> vocab = engine::Vocab::Create(std::move(*data));
  if (!vocab.ok()) return vocab.status().WithContext(path);
  return vocab;
}

int RunTokenize(const TokenizeFlags& f) {
  StatusOr<std::unique_ptr<engine::Vocab>> vocab = LoadVocab(f.file);
  if (!vocab.ok()) return ReportError("model tokenize", vocab.status());
  const std::string text = ReadStdin();
  const std::vector<int32_t> ids =
      (*vocab)->Encode(text, {.add_special = f.add_special, .parse_special = f.parse_special});
  std::string line;
  for (int32_t id : ids) line += (line.empty() ? "" : " ") + std::to_string(id);
  std::printf("%s\n", line.c_str());
  if (f.pieces) {
    for (int32_t id : ids) {
      std::printf("%d\t%s\n", id, Quote((*vocab)->TokenToPiece(id, /*render_special=*/true)).c_str());
    }
  }
  return kExitOk;
}

}  // namespace

void AddModelTokenizeCommand(CLI::App& model, CliContext& ctx) {
  auto flags = std::make_shared<TokenizeFlags>();
  CLI::App* cmd = model.add_subcommand(
      "tokenize", "Print the token ids of the text on stdin (vocabulary-only GGUF files work too)");
  cmd->footer(
      "Ids are printed space-separated on one line. Special tokens are neither added (BOS/EOS)\n"
      "nor parsed from the text unless asked; --pieces then lists each id with its text.");
  cmd->add_option("FILE", flags->file, "GGUF model or vocabulary file")->required();
  cmd->add_flag("--add-special", flags->add_special, "Add BOS/EOS (or CLS/SEP) as the vocabulary says");
  cmd->add_flag("--parse-special", flags->parse_special,
                "Turn control-token texts in the input (\"<|im_end|>\") into their ids");
  cmd->add_flag("--pieces", flags->pieces, "Also print one line per token: id, tab, quoted text");
  cmd->callback([flags, &ctx] { ctx.exit_code = RunTokenize(*flags); });
}

}  // namespace sobre::cli
