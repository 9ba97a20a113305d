// sobre: the command-line entry point. Flag parsing only; every command lives in a library.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "core/logging.h"

int main(int argc, char** argv) {
  CLI::App app{
      "sobre: run language models at the lowest energy and carbon that still does the job, and "
      "tell the truth about what every request, job and training run cost.\n"};
  app.set_version_flag("--version", "sobre 0.1.0");
  app.require_subcommand(1);
  std::string log_level = "warning";
  app.add_option("--log-level", log_level, "debug, info, warning, error or off")
      ->capture_default_str();
  app.parse_complete_callback([&] {
    auto level = sobre::ParseLogLevel(log_level);
    if (!level.ok()) throw CLI::ValidationError("--log-level", level.status().message());
    sobre::SetLogLevel(*level);
  });

  sobre::cli::CliContext ctx;
  sobre::cli::AddMeasureCommand(app, ctx);
  sobre::cli::AddEstimateCommand(app, ctx);
  sobre::cli::AddServeCommand(app, ctx);
  sobre::cli::AddKeysCommand(app, ctx);
  sobre::cli::AddCacheCommand(app, ctx);
  sobre::cli::AddModelCommand(app, ctx);
  sobre::cli::AddBenchCommand(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : sobre::cli::kExitUsage;
  }
  return ctx.exit_code;
}
