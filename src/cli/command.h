// How sobre's commands plug into main(): each registers a CLI11 subcommand whose callback leaves
// the process exit code in the context.
#ifndef SOBRE_CLI_COMMAND_H_
#define SOBRE_CLI_COMMAND_H_

#include <string_view>

#include "core/status.h"

namespace CLI {
class App;
}

namespace sobre::cli {

// Exit codes shared by every command (a measured command's own code passes through unchanged).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // The work failed (I/O, unreadable data).
inline constexpr int kExitUsage = 2;    // Bad flags or values: the message names the flag.

struct CliContext {
  int exit_code = kExitOk;
};

// Prints "sobre <command>: error: <message>" on stderr and returns the exit code for `status`
// (kExitUsage for InvalidArgument / NotFound, kExitFailure otherwise).
int ReportError(std::string_view command, const Status& status);

void AddMeasureCommand(CLI::App& app, CliContext& ctx);
void AddEstimateCommand(CLI::App& app, CliContext& ctx);
void AddServeCommand(CLI::App& app, CliContext& ctx);
void AddKeysCommand(CLI::App& app, CliContext& ctx);
void AddCacheCommand(CLI::App& app, CliContext& ctx);

// `sobre model ...`: model_command.cc owns the group and info / make-test / quantize;
// model_tokenize_command.cc adds `tokenize` to it.
void AddModelCommand(CLI::App& app, CliContext& ctx);
void AddModelTokenizeCommand(CLI::App& model, CliContext& ctx);

// `sobre bench ...`: bench_command.cc owns the group; each benchmark lives in its own file.
void AddBenchCommand(CLI::App& app, CliContext& ctx);
void AddBenchCacheCommand(CLI::App& bench, CliContext& ctx);
void AddBenchModelCommand(CLI::App& bench, CliContext& ctx);

}  // namespace sobre::cli

#endif  // SOBRE_CLI_COMMAND_H_
