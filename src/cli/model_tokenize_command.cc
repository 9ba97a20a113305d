// `sobre model tokenize FILE`: text on stdin, token ids on stdout.
#include <CLI/CLI.hpp>

#include "cli/command.h"

namespace sobre::cli {

void AddModelTokenizeCommand(CLI::App& /*model*/, CliContext& /*ctx*/) {}

}  // namespace sobre::cli
