// `sobre bench model FILE`: prompt and generation speed and energy of a GGUF model on this machine.
#include <CLI/CLI.hpp>

#include "cli/command.h"

namespace sobre::cli {

void AddBenchModelCommand(CLI::App& /*bench*/, CliContext& /*ctx*/) {}

}  // namespace sobre::cli
