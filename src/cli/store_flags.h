// The --store / --config flags of the commands that work on sobre serve's store (keys, cache).
#ifndef SOBRE_CLI_STORE_FLAGS_H_
#define SOBRE_CLI_STORE_FLAGS_H_

#include <memory>
#include <optional>
#include <string>

#include "core/status.h"
#include "store/store.h"

namespace CLI {
class App;
}

namespace sobre::cli {

struct StoreFlags {
  std::optional<std::string> store_url;    // --store
  std::optional<std::string> config_file;  // --config: use that serve config's store
};

// Adds --store and --config to `cmd`, bound to `f`.
void AddStoreFlags(CLI::App* cmd, StoreFlags& f);

// The store named by --store, else by the config file, else sobre serve's default; errors name
// the URL.
StatusOr<std::unique_ptr<store::Store>> OpenStoreFromFlags(const StoreFlags& f);

}  // namespace sobre::cli

#endif  // SOBRE_CLI_STORE_FLAGS_H_
