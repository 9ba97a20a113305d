#include "cli/store_flags.h"

#include <CLI/CLI.hpp>

#include "gateway/config.h"

namespace sobre::cli {

void AddStoreFlags(CLI::App* cmd, StoreFlags& f) {
  cmd->add_option("--store", f.store_url,
                  "Store URL: sqlite:///path.db or postgres://user@host/db (default: the config's, "
                  "else sqlite://sobre.db)");
  cmd->add_option("--config", f.config_file, "sobre serve config file whose store to use");
}

StatusOr<std::unique_ptr<store::Store>> OpenStoreFromFlags(const StoreFlags& f) {
  std::string url = gateway::DefaultGatewayConfig().store_url;
  if (f.config_file) {
    SOBRE_ASSIGN_OR_RETURN(gateway::GatewayConfig config,
                           gateway::LoadGatewayConfig(*f.config_file));
    url = config.store_url;
  }
  if (f.store_url) url = *f.store_url;
  StatusOr<std::unique_ptr<store::Store>> s = store::OpenStore(url);
  if (!s.ok()) return s.status().WithContext("opening store " + url);
  return s;
}

}  // namespace sobre::cli
