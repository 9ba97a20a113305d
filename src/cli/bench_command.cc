// `sobre bench`: whole-program benchmarks that print ratios against a baseline from the same run.
#include <CLI/CLI.hpp>

#include "cli/command.h"

namespace sobre::cli {

void AddBenchCommand(CLI::App& app, CliContext& ctx) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmark sobre's parts on this machine");
  bench->require_subcommand(1);
  AddBenchCacheCommand(*bench, ctx);
  AddBenchModelCommand(*bench, ctx);
}

}  // namespace sobre::cli
