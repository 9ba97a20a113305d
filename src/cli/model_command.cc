// `sobre model`: inspect, quantise and create GGUF files.
#include <CLI/CLI.hpp>

#include "cli/command.h"

namespace sobre::cli {

void AddModelCommand(CLI::App& app, CliContext& ctx) {
  CLI::App* model = app.add_subcommand("model", "Inspect, quantise, tokenize with and create GGUF model files");
  model->require_subcommand(1);
  AddModelTokenizeCommand(*model, ctx);
}

}  // namespace sobre::cli
