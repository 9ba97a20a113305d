// `sobre bench cache`: hit rate and precision of the semantic cache on a labelled paraphrase set.
#include <CLI/CLI.hpp>

#include "cli/command.h"

namespace sobre::cli {

void AddBenchCacheCommand(CLI::App& /*bench*/, CliContext& /*ctx*/) {}

}  // namespace sobre::cli
