// `sobre cache stats | purge`: look at and empty the answer cache kept in the store.
#include <CLI/CLI.hpp>

#include "cli/command.h"

namespace sobre::cli {

void AddCacheCommand(CLI::App& /*app*/, CliContext& /*ctx*/) {}

}  // namespace sobre::cli
