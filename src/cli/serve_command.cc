// `sobre serve`: the OpenAI-compatible gateway. Reads the config, opens the store, builds one
// backend per model and runs the HTTP server until SIGTERM or SIGINT, then drains gracefully.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "backend/engine_backend.h"
#include "backend/upstream_backend.h"
#include "cli/command.h"
#include "core/clock.h"
#include "core/file.h"
#include "gateway/config.h"
#include "gateway/gateway.h"
#include "gateway/gpu_meter.h"
#include "gateway/http_server.h"
#include "store/store.h"

namespace sobre::cli {
namespace {

struct ServeFlags {
  std::optional<std::string> config_file;
  std::optional<std::string> listen;
  std::optional<std::string> store_url;
  std::optional<int> io_threads;
  std::optional<std::string> port_file;
  std::vector<std::string> model_files;  // --model FILE.gguf, repeatable.
};

StatusOr<gateway::GatewayConfig> ResolveConfig(const ServeFlags& f) {
  gateway::GatewayConfig config = gateway::DefaultGatewayConfig();
  if (f.config_file) {
    SOBRE_ASSIGN_OR_RETURN(config, gateway::LoadGatewayConfig(*f.config_file));
  }
  if (f.listen) {
    size_t colon = f.listen->rfind(':');
    char* end = nullptr;
    long port = colon == std::string::npos ? -1 : std::strtol(f.listen->c_str() + colon + 1, &end, 10);
    if (colon == std::string::npos || colon == 0 || port < 0 || port > 65535 || *end != '\0') {
      return InvalidArgumentError("--listen: expected HOST:PORT, got '" + *f.listen + "'");
    }
    config.server.host = f.listen->substr(0, colon);
    config.server.port = static_cast<uint16_t>(port);
  }
  if (f.store_url) config.store_url = *f.store_url;
  for (const std::string& file : f.model_files) {
    // --model FILE.gguf: served in-process under the file's name without directory and ".gguf".
    gateway::ModelConfig m;
    m.path = file;
    std::string name = file.substr(file.find_last_of('/') + 1);
    if (name.size() > 5 && name.substr(name.size() - 5) == ".gguf") name.resize(name.size() - 5);
    m.name = name;
    for (const gateway::ModelConfig& other : config.models) {
      if (other.name == m.name) {
        return InvalidArgumentError("--model " + file + ": a model named '" + m.name +
                                    "' is already configured");
      }
    }
    config.models.push_back(std::move(m));
  }
  if (f.io_threads) {
    if (*f.io_threads < 1 || *f.io_threads > 256) {
      return InvalidArgumentError("--io-threads must be between 1 and 256");
    }
    config.server.io_threads = *f.io_threads;
  }
  return config;
}

// Secrets come from the environment, never from the config file.
StatusOr<std::string> SecretFromEnv(const std::string& var, const std::string& what) {
  const char* v = std::getenv(var.c_str());
  if (v == nullptr || *v == '\0') {
    return InvalidArgumentError(what + ": environment variable " + var + " is not set");
  }
  return std::string(v);
}

Status RegisterConfigKeys(const gateway::GatewayConfig& config, store::Store& store) {
  for (const gateway::KeyConfig& k : config.keys) {
    SOBRE_ASSIGN_OR_RETURN(std::string secret,
                           SecretFromEnv(k.key_env, fmt::format("{}:{}: key '{}'", config.source, k.line, k.name)));
    StatusOr<store::ApiKey> key = store.UpsertKey({k.name, k.tenant, k.admin, k.limits}, secret);
    if (!key.ok()) return key.status().WithContext("key '" + k.name + "'");
  }
  if (!config.admin_key_env.empty()) {
    SOBRE_ASSIGN_OR_RETURN(std::string secret, SecretFromEnv(config.admin_key_env, "admin_key_env"));
    StatusOr<store::ApiKey> key = store.UpsertKey({"admin", "admin", true, {}}, secret);
    if (!key.ok()) return key.status().WithContext("admin key");
  }
  return OkStatus();
}

StatusOr<std::map<std::string, std::unique_ptr<backend::Backend>>> MakeBackends(
    const gateway::GatewayConfig& config) {
  std::map<std::string, std::unique_ptr<backend::Backend>> backends;
  for (const gateway::ModelConfig& m : config.models) {
    if (!m.path.empty()) {
      // A GGUF file served in-process by the embedded engine.
      backend::EngineBackendOptions e;
      e.path = m.path;
      e.model_name = m.name;
      e.threads = m.engine_threads;
      e.slots = m.engine_slots;
      e.ctx_per_slot = m.engine_ctx;
      e.chat_template = m.chat_template;
      StatusOr<std::unique_ptr<backend::EngineBackend>> b = backend::CreateEngineBackend(e);
      if (!b.ok()) {
        return b.status().WithContext(
            fmt::format("{}:{}: model '{}'", config.source, m.line, m.name));
      }
      std::fprintf(stderr, "sobre serve: model '%s' runs in-process from %s (%s; energy %s)\n",
                   m.name.c_str(), m.path.c_str(), (*b)->architecture().c_str(),
                   (*b)->energy_method().description.c_str());
      backends.emplace(m.name, std::move(*b));
      continue;
    }
    backend::UpstreamOptions o;
    o.base_url = m.upstream;
    o.model = m.upstream_model;
    if (!m.api_key_env.empty()) {
      SOBRE_ASSIGN_OR_RETURN(o.api_key, SecretFromEnv(m.api_key_env, "model '" + m.name + "'"));
    }
    o.connect_timeout = m.connect_timeout;
    o.first_byte_timeout = m.first_byte_timeout;
    o.total_timeout = m.total_timeout;
    o.max_retries = m.max_retries;
    o.pool_size = m.pool_size;
    StatusOr<std::unique_ptr<backend::UpstreamBackend>> b = backend::UpstreamBackend::Create(o);
    if (!b.ok()) return b.status().WithContext(fmt::format("{}:{}: model '{}'", config.source, m.line, m.name));
    backends.emplace(m.name, std::move(*b));
  }
  return backends;
}

// The GPU meter for the models with `meter: nvml` (null when none has it), on the union of their
// GPUs. Fails when NVML or one of those GPUs is unavailable: measured models are never quietly
// estimated.
StatusOr<std::unique_ptr<gateway::GpuEnergyMeter>> MakeGpuMeter(
    const gateway::GatewayConfig& config) {
  bool any = false;
  bool all_gpus = false;
  std::set<int> gpus;
  std::string models;
  for (const gateway::ModelConfig& m : config.models) {
    if (m.meter != gateway::MeterKind::kNvml) continue;
    any = true;
    all_gpus = all_gpus || m.gpus.empty();
    gpus.insert(m.gpus.begin(), m.gpus.end());
    models += (models.empty() ? "" : ", ") + fmt::format("{}:{}: model '{}'", config.source,
                                                          m.line, m.name);
  }
  if (!any) return std::unique_ptr<gateway::GpuEnergyMeter>();
  StatusOr<std::unique_ptr<gateway::GpuEnergyMeter>> meter = gateway::GpuEnergyMeter::Create(
      config.nvml_library, all_gpus ? std::vector<int>() : std::vector<int>(gpus.begin(), gpus.end()));
  if (!meter.ok()) return meter.status().WithContext(models);
  return meter;
}

// Each stream holds two sockets (client and upstream): lift the soft descriptor limit to the hard
// one so that thousands of streams do not fail at the common default of 1024.
void RaiseFileLimit() {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int RunServe(const ServeFlags& f) {
  RaiseFileLimit();
  StatusOr<gateway::GatewayConfig> config = ResolveConfig(f);
  if (!config.ok()) return ReportError("serve", config.status());

  StatusOr<std::unique_ptr<store::Store>> store = store::OpenStore(config->store_url, config->store);
  if (!store.ok()) return ReportError("serve", store.status().WithContext("store " + config->store_url));
  if (Status s = RegisterConfigKeys(*config, **store); !s.ok()) return ReportError("serve", s);
  auto backends = MakeBackends(*config);
  if (!backends.ok()) return ReportError("serve", backends.status());

  // Block the shutdown signals before any thread starts, then wait for them on this thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // After the mask: the meter's sampler thread must not take the shutdown signals.
  auto gpu_meter = MakeGpuMeter(*config);
  if (!gpu_meter.ok()) return ReportError("serve", gpu_meter.status());

  // Keep plain pointers to release the backends' pooled connections after the server stops.
  std::vector<backend::Backend*> backend_ptrs;
  for (auto& [name, b] : *backends) backend_ptrs.push_back(b.get());
  gateway::Gateway gw(*config, **store, std::move(*backends), SystemClock(),
                      std::move(*gpu_meter));
  // A cache that cannot be read would silently cost every answer again: refuse to start instead
  // (cache: {exact: false} runs without it).
  if (Status s = gw.status(); !s.ok()) return ReportError("serve", s);
  gateway::HttpServer server(config->server);
  gw.RegisterRoutes(server);
  if (Status s = server.Start(); !s.ok()) return ReportError("serve", s);

  StatusOr<int64_t> keys = (*store)->CountAllKeys();
  bool open = keys.ok() && *keys == 0;
  std::printf("listening %s:%u\n", config->server.host.c_str(), server.port());
  std::fflush(stdout);
  std::fprintf(stderr,
               "sobre serve: %s://%s:%u, %zu model(s), store %s, %s\n",
               config->server.tls_cert_file.empty() ? "http" : "https", config->server.host.c_str(),
               server.port(), config->models.size(), config->store_url.c_str(),
               open ? "no API keys: open access (create one with `sobre keys create`)"
                    : "API keys required");
  if (f.port_file) {
    if (Status s = AppendToFile(*f.port_file, std::to_string(server.port()) + "\n"); !s.ok()) {
      ReportError("serve", s.WithContext("--port-file"));
    }
  }

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "sobre serve: %s received, draining (deadline %lld ms)\n",
               sig == SIGTERM ? "SIGTERM" : "SIGINT",
               static_cast<long long>(config->shutdown_deadline.count()));
  gw.SetDraining();
  server.Stop(config->shutdown_deadline, [&backend_ptrs] {
    for (backend::Backend* b : backend_ptrs) b->ReleaseConnections();
  });
  if (Status s = (*store)->Flush(); !s.ok()) {
    return ReportError("serve", s.WithContext("flushing the ledger"));
  }
  std::fprintf(stderr, "sobre serve: stopped; ledger flushed\n");
  return kExitOk;
}

}  // namespace

void AddServeCommand(CLI::App& app, CliContext& ctx) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Run the OpenAI-compatible gateway that meters the footprint of every request");
  cmd->footer(
      "Endpoints: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models, /healthz,\n"
      "/readyz, /metrics. Every response carries its energy, CO2e, water and embodied footprint\n"
      "(usage.footprint and x-sobre-* headers). SIGTERM drains gracefully. The config file is\n"
      "described in docs/gateway.md.");
  cmd->add_option("--config", f->config_file, "YAML config (listen, store, site, models, keys)");
  cmd->add_option("--listen", f->listen, "HOST:PORT to listen on (overrides the config; port 0 picks one)");
  cmd->add_option("--store", f->store_url, "sqlite:///path.db or postgres://user@host/db");
  cmd->add_option("--io-threads", f->io_threads, "Threads serving connections");
  cmd->add_option("--model", f->model_files,
                  "GGUF file to serve in-process with the embedded CPU engine, as a model named "
                  "after the file (repeatable; see also `path:` models in the config)");
  cmd->add_option("--port-file", f->port_file, "Write the bound port to FILE (for scripts and tests)");
  cmd->callback([f, &ctx] { ctx.exit_code = RunServe(*f); });
}

}  // namespace sobre::cli
