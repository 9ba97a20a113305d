#include "gateway/config.h"

#include <algorithm>
#include <set>

#include <fmt/core.h>
#include <yaml-cpp/yaml.h>

#include "core/file.h"
#include "core/strings.h"
#include "footprint/intensity.h"

namespace sobre::gateway {
namespace {

// Reads one YAML mapping, remembering which keys were used so that unknown ones (typos) are
// reported with their line. All errors carry "file:line: path".
class MapReader {
 public:
  MapReader(const YAML::Node& node, std::string path, const std::string* file)
      : node_(node), path_(std::move(path)), file_(file) {}

  Status CheckIsMap() const {
    if (!node_.IsMap()) return Error(node_, "expected a mapping");
    return OkStatus();
  }

  Status Error(const YAML::Node& at, std::string_view what) const {
    return InvalidArgumentError(
        fmt::format("{}:{}: {}: {}", *file_, at.Mark().line + 1, path_.empty() ? "(top level)" : path_, what));
  }
  Status KeyError(const std::string& key, const YAML::Node& at, std::string_view what) const {
    return InvalidArgumentError(
        fmt::format("{}:{}: {}: {}", *file_, at.Mark().line + 1, Child(key), what));
  }
  std::string Child(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  // The node for `key`, or an undefined node.
  YAML::Node Get(const std::string& key) {
    known_.insert(key);
    return node_[key];
  }

  Status String(const std::string& key, std::string& out) {
    YAML::Node n = Get(key);
    if (!n.IsDefined() || n.IsNull()) return OkStatus();
    if (!n.IsScalar()) return KeyError(key, n, "expected a string");
    out = n.Scalar();
    return OkStatus();
  }

  Status Double(const std::string& key, std::optional<double>& out, double lo, double hi) {
    YAML::Node n = Get(key);
    if (!n.IsDefined() || n.IsNull()) return OkStatus();
    if (!n.IsScalar()) return KeyError(key, n, "expected a number");
    StatusOr<double> v = ParseDouble(n.Scalar());
    if (!v.ok()) return KeyError(key, n, v.status().message());
    if (*v < lo || *v > hi) {
      return KeyError(key, n, fmt::format("must be between {:g} and {:g}, got {:g}", lo, hi, *v));
    }
    out = *v;
    return OkStatus();
  }

  Status Int(const std::string& key, std::optional<int64_t>& out, int64_t lo, int64_t hi) {
    YAML::Node n = Get(key);
    if (!n.IsDefined() || n.IsNull()) return OkStatus();
    if (!n.IsScalar()) return KeyError(key, n, "expected an integer");
    StatusOr<int64_t> v = ParseInt64(n.Scalar());
    if (!v.ok()) return KeyError(key, n, v.status().message());
    if (*v < lo || *v > hi) {
      return KeyError(key, n, fmt::format("must be between {} and {}, got {}", lo, hi, *v));
    }
    out = *v;
    return OkStatus();
  }

  Status Bool(const std::string& key, bool& out) {
    YAML::Node n = Get(key);
    if (!n.IsDefined() || n.IsNull()) return OkStatus();
    std::string v = n.IsScalar() ? ToLower(n.Scalar()) : "";
    if (v == "true" || v == "yes" || v == "on") {
      out = true;
    } else if (v == "false" || v == "no" || v == "off") {
      out = false;
    } else {
      return KeyError(key, n, "expected true or false");
    }
    return OkStatus();
  }

  Status StringList(const std::string& key, std::vector<std::string>& out) {
    YAML::Node n = Get(key);
    if (!n.IsDefined() || n.IsNull()) return OkStatus();
    if (n.IsScalar()) {
      out.push_back(n.Scalar());
      return OkStatus();
    }
    if (!n.IsSequence()) return KeyError(key, n, "expected a list of names");
    for (const auto& item : n) {
      if (!item.IsScalar()) return KeyError(key, item, "expected a name");
      out.push_back(item.Scalar());
    }
    return OkStatus();
  }

  // Call last: fails on the first key that no accessor asked for.
  Status CheckUnknown() const {
    std::vector<std::string> known(known_.begin(), known_.end());
    for (const auto& kv : node_) {
      std::string key = kv.first.Scalar();
      if (known_.count(key) == 0) {
        return KeyError(key, kv.first,
                        "unknown setting (did you mean: " + Join(ClosestNames(key, known, 3), ", ") + "?)");
      }
    }
    return OkStatus();
  }

 private:
  YAML::Node node_;
  std::string path_;
  const std::string* file_;
  std::set<std::string> known_;
};

Status ParseListen(const std::string& listen, HttpServerOptions& server, const MapReader& r,
                   const YAML::Node& at) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return r.Error(at, "listen: expected HOST:PORT, got '" + listen + "'");
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  StatusOr<int64_t> port = ParseInt64(listen.substr(colon + 1));
  if (host.empty() || !port.ok() || *port < 0 || *port > 65535) {
    return r.Error(at, "listen: expected HOST:PORT with a port from 0 to 65535, got '" + listen + "'");
  }
  server.host = host;
  server.port = static_cast<uint16_t>(*port);
  return OkStatus();
}

Status ReadLimits(MapReader& budget, store::Limits& limits) {
  SOBRE_RETURN_IF_ERROR(budget.Int("tokens_per_day", limits.tokens_per_day, 1, INT64_MAX / 4));
  SOBRE_RETURN_IF_ERROR(budget.Int("tokens_per_month", limits.tokens_per_month, 1, INT64_MAX / 4));
  SOBRE_RETURN_IF_ERROR(budget.Double("wh_per_day", limits.wh_per_day, 0, 1e12));
  SOBRE_RETURN_IF_ERROR(budget.Double("wh_per_month", limits.wh_per_month, 0, 1e12));
  SOBRE_RETURN_IF_ERROR(budget.Double("co2e_g_per_day", limits.co2e_g_per_day, 0, 1e12));
  SOBRE_RETURN_IF_ERROR(budget.Double("co2e_g_per_month", limits.co2e_g_per_month, 0, 1e12));
  SOBRE_RETURN_IF_ERROR(budget.Int("requests_per_minute", limits.requests_per_minute, 1, 1'000'000'000));
  SOBRE_RETURN_IF_ERROR(budget.Int("tokens_per_minute", limits.tokens_per_minute, 1, INT64_MAX / 4));
  return budget.CheckUnknown();
}

std::chrono::milliseconds Ms(std::optional<int64_t> v, std::chrono::milliseconds fallback) {
  return v ? std::chrono::milliseconds(*v) : fallback;
}

Status ReadModel(const YAML::Node& node, size_t index, const std::string& file, ModelConfig& m) {
  MapReader r(node, fmt::format("models[{}]", index), &file);
  SOBRE_RETURN_IF_ERROR(r.CheckIsMap());
  m.line = node.Mark().line + 1;
  SOBRE_RETURN_IF_ERROR(r.String("name", m.name));
  if (m.name.empty()) return r.Error(node, "every model needs a name (what clients send as \"model\")");
  SOBRE_RETURN_IF_ERROR(r.String("upstream", m.upstream));
  SOBRE_RETURN_IF_ERROR(r.String("path", m.path));
  if (m.upstream.empty() == m.path.empty()) {
    return r.Error(node, "model '" + m.name + "' needs either an upstream URL or a path to a GGUF "
                   "file (not both)");
  }
  std::optional<int64_t> threads, slots, ctx;
  SOBRE_RETURN_IF_ERROR(r.Int("threads", threads, 0, 1024));
  SOBRE_RETURN_IF_ERROR(r.Int("slots", slots, 1, 256));
  SOBRE_RETURN_IF_ERROR(r.Int("context", ctx, 16, 1 << 20));
  SOBRE_RETURN_IF_ERROR(r.String("chat_template", m.chat_template));
  SOBRE_RETURN_IF_ERROR(r.Bool("semantic_cache", m.semantic_cache));
  if (!m.upstream.empty() && (threads || slots || ctx || !m.chat_template.empty())) {
    return r.Error(node, "threads, slots, context and chat_template apply to path: models only");
  }
  if (threads) m.engine_threads = static_cast<int>(*threads);
  if (slots) m.engine_slots = static_cast<int>(*slots);
  if (ctx) m.engine_ctx = static_cast<int>(*ctx);
  if (!m.upstream.empty() && !StartsWith(m.upstream, "http://") &&
      !StartsWith(m.upstream, "https://")) {
    return r.KeyError("upstream", r.Get("upstream"),
                      "expected an http:// or https:// base URL, got '" + m.upstream + "'");
  }
  SOBRE_RETURN_IF_ERROR(r.String("upstream_model", m.upstream_model));
  if (m.upstream_model.empty()) m.upstream_model = m.name;
  SOBRE_RETURN_IF_ERROR(r.String("api_key_env", m.api_key_env));
  SOBRE_RETURN_IF_ERROR(r.Double("params_b", m.params_b, 0.001, 100000));
  SOBRE_RETURN_IF_ERROR(r.Double("active_params_b", m.active_params_b, 0.001, 100000));
  YAML::Node fallbacks = r.Get("fallbacks");
  if (fallbacks.IsDefined() && !fallbacks.IsNull()) {
    if (!fallbacks.IsSequence()) return r.KeyError("fallbacks", fallbacks, "expected a list of model names");
    for (const auto& f : fallbacks) {
      if (!f.IsScalar()) return r.KeyError("fallbacks", f, "expected a model name");
      m.fallbacks.push_back(f.Scalar());
    }
  }
  std::optional<int64_t> connect, first_byte, total, retries, pool;
  SOBRE_RETURN_IF_ERROR(r.Int("connect_timeout_ms", connect, 1, 600000));
  SOBRE_RETURN_IF_ERROR(r.Int("first_byte_timeout_ms", first_byte, 1, 3600000));
  SOBRE_RETURN_IF_ERROR(r.Int("total_timeout_ms", total, 1, 24 * 3600000));
  SOBRE_RETURN_IF_ERROR(r.Int("max_retries", retries, 0, 10));
  SOBRE_RETURN_IF_ERROR(r.Int("pool_size", pool, 0, 100000));
  m.connect_timeout = Ms(connect, m.connect_timeout);
  m.first_byte_timeout = Ms(first_byte, m.first_byte_timeout);
  m.total_timeout = Ms(total, m.total_timeout);
  if (retries) m.max_retries = static_cast<int>(*retries);
  if (pool) m.pool_size = static_cast<size_t>(*pool);
  std::string meter;
  SOBRE_RETURN_IF_ERROR(r.String("meter", meter));
  if (meter == "nvml") {
    m.meter = MeterKind::kNvml;
  } else if (!meter.empty() && meter != "none") {
    return r.KeyError("meter", r.Get("meter"), "expected nvml or none, got '" + meter + "'");
  }
  YAML::Node gpus = r.Get("gpus");
  if (gpus.IsDefined() && !gpus.IsNull()) {
    if (m.meter != MeterKind::kNvml) {
      return r.KeyError("gpus", gpus, "gpus is only used with meter: nvml");
    }
    if (!gpus.IsSequence()) return r.KeyError("gpus", gpus, "expected a list of GPU indices");
    for (const auto& g : gpus) {
      if (!g.IsScalar()) return r.KeyError("gpus", g, "expected a GPU index from 0 to 1023");
      StatusOr<int64_t> gpu = ParseInt64(g.Scalar());
      if (!gpu.ok() || *gpu < 0 || *gpu > 1023) {
        return r.KeyError("gpus", g, "expected a GPU index from 0 to 1023");
      }
      if (std::find(m.gpus.begin(), m.gpus.end(), *gpu) != m.gpus.end()) {
        return r.KeyError("gpus", g, fmt::format("GPU {} is listed twice", *gpu));
      }
      m.gpus.push_back(static_cast<int>(*gpu));
    }
    if (m.gpus.empty()) return r.KeyError("gpus", gpus, "list at least one GPU, or omit gpus");
  }
  return r.CheckUnknown();
}

Status ReadKey(const YAML::Node& node, size_t index, const std::string& file, KeyConfig& k) {
  MapReader r(node, fmt::format("keys[{}]", index), &file);
  SOBRE_RETURN_IF_ERROR(r.CheckIsMap());
  k.line = node.Mark().line + 1;
  SOBRE_RETURN_IF_ERROR(r.String("name", k.name));
  if (k.name.empty()) return r.Error(node, "every key needs a name");
  SOBRE_RETURN_IF_ERROR(r.String("key_env", k.key_env));
  if (k.key_env.empty()) {
    return r.Error(node, "key '" + k.name +
                             "' needs key_env: the environment variable holding its secret "
                             "(secrets are never written in the config)");
  }
  SOBRE_RETURN_IF_ERROR(r.String("tenant", k.tenant));
  SOBRE_RETURN_IF_ERROR(r.Bool("admin", k.admin));
  for (const char* section : {"budget", "rate"}) {
    YAML::Node b = r.Get(section);
    if (!b.IsDefined() || b.IsNull()) continue;
    MapReader br(b, r.Child(section), &file);
    SOBRE_RETURN_IF_ERROR(br.CheckIsMap());
    SOBRE_RETURN_IF_ERROR(ReadLimits(br, k.limits));
  }
  return r.CheckUnknown();
}

StatusOr<GatewayConfig> Parse(const YAML::Node& root, const std::string& file) {
  GatewayConfig c = DefaultGatewayConfig();
  c.source = file;
  if (!root.IsDefined() || root.IsNull()) return c;
  MapReader r(root, "", &file);
  SOBRE_RETURN_IF_ERROR(r.CheckIsMap());

  std::string listen;
  SOBRE_RETURN_IF_ERROR(r.String("listen", listen));
  if (!listen.empty()) SOBRE_RETURN_IF_ERROR(ParseListen(listen, c.server, r, r.Get("listen")));
  SOBRE_RETURN_IF_ERROR(r.String("store", c.store_url));
  SOBRE_RETURN_IF_ERROR(r.String("admin_key_env", c.admin_key_env));
  SOBRE_RETURN_IF_ERROR(r.String("nvml_library", c.nvml_library));
  std::optional<int64_t> io_threads;
  SOBRE_RETURN_IF_ERROR(r.Int("io_threads", io_threads, 1, 256));
  if (io_threads) c.server.io_threads = static_cast<int>(*io_threads);

  if (YAML::Node tls = r.Get("tls"); tls.IsDefined() && !tls.IsNull()) {
    MapReader t(tls, "tls", &file);
    SOBRE_RETURN_IF_ERROR(t.CheckIsMap());
    SOBRE_RETURN_IF_ERROR(t.String("cert", c.server.tls_cert_file));
    SOBRE_RETURN_IF_ERROR(t.String("key", c.server.tls_key_file));
    SOBRE_RETURN_IF_ERROR(t.CheckUnknown());
    if (c.server.tls_cert_file.empty() != c.server.tls_key_file.empty()) {
      return t.Error(tls, "give both cert and key files, or neither");
    }
  }

  if (YAML::Node site = r.Get("site"); site.IsDefined() && !site.IsNull()) {
    MapReader s(site, "site", &file);
    SOBRE_RETURN_IF_ERROR(s.CheckIsMap());
    SOBRE_RETURN_IF_ERROR(s.String("zone", c.site.zone));
    if (!c.site.zone.empty()) {
      StatusOr<footprint::Intensity> z = footprint::IntensityTable::Builtin().Lookup(c.site.zone);
      if (!z.ok()) return s.KeyError("zone", s.Get("zone"), z.status().message());
    }
    SOBRE_RETURN_IF_ERROR(s.Double("intensity_g_per_kwh", c.site.intensity_g_per_kwh, 0, 3000));
    std::optional<double> pue;
    SOBRE_RETURN_IF_ERROR(s.Double("pue", pue, 1.0, 5.0));
    if (pue) c.site.pue = *pue;
    SOBRE_RETURN_IF_ERROR(s.Double("wue_l_per_kwh", c.site.wue_l_per_kwh, 0, 20));
    SOBRE_RETURN_IF_ERROR(s.CheckUnknown());
  }

  if (YAML::Node limits = r.Get("limits"); limits.IsDefined() && !limits.IsNull()) {
    MapReader l(limits, "limits", &file);
    SOBRE_RETURN_IF_ERROR(l.CheckIsMap());
    std::optional<int64_t> body, header, idle, read, write, conns, in_flight, queue, shutdown;
    SOBRE_RETURN_IF_ERROR(l.Int("max_body_bytes", body, 1024, int64_t{1} << 32));
    SOBRE_RETURN_IF_ERROR(l.Int("max_header_bytes", header, 1024, 1 << 24));
    SOBRE_RETURN_IF_ERROR(l.Int("idle_timeout_s", idle, 1, 86400));
    SOBRE_RETURN_IF_ERROR(l.Int("read_timeout_s", read, 1, 3600));
    SOBRE_RETURN_IF_ERROR(l.Int("write_timeout_s", write, 1, 3600));
    SOBRE_RETURN_IF_ERROR(l.Int("max_connections", conns, 1, 10'000'000));
    SOBRE_RETURN_IF_ERROR(l.Int("max_in_flight", in_flight, 1, 10'000'000));
    SOBRE_RETURN_IF_ERROR(l.Int("max_queue", queue, 0, 10'000'000));
    SOBRE_RETURN_IF_ERROR(l.Int("shutdown_deadline_s", shutdown, 0, 3600));
    SOBRE_RETURN_IF_ERROR(l.CheckUnknown());
    if (body) c.server.max_body_bytes = static_cast<size_t>(*body);
    if (header) c.server.max_header_bytes = static_cast<size_t>(*header);
    if (idle) c.server.idle_timeout = std::chrono::seconds(*idle);
    if (read) c.server.read_timeout = std::chrono::seconds(*read);
    if (write) c.server.write_timeout = std::chrono::seconds(*write);
    if (conns) c.server.max_connections = static_cast<size_t>(*conns);
    if (in_flight) c.max_in_flight = static_cast<size_t>(*in_flight);
    if (queue) c.max_queue = static_cast<size_t>(*queue);
    if (shutdown) c.shutdown_deadline = std::chrono::seconds(*shutdown);
  }

  if (YAML::Node ledger = r.Get("ledger"); ledger.IsDefined() && !ledger.IsNull()) {
    MapReader l(ledger, "ledger", &file);
    SOBRE_RETURN_IF_ERROR(l.CheckIsMap());
    std::optional<int64_t> interval, batch;
    SOBRE_RETURN_IF_ERROR(l.Int("flush_interval_ms", interval, 1, 60000));
    SOBRE_RETURN_IF_ERROR(l.Int("max_batch", batch, 1, 1'000'000));
    SOBRE_RETURN_IF_ERROR(l.CheckUnknown());
    if (interval) c.store.ledger_flush_interval = std::chrono::milliseconds(*interval);
    if (batch) c.store.ledger_max_batch = static_cast<size_t>(*batch);
  }

  if (YAML::Node metrics = r.Get("metrics"); metrics.IsDefined() && !metrics.IsNull()) {
    MapReader m(metrics, "metrics", &file);
    SOBRE_RETURN_IF_ERROR(m.CheckIsMap());
    SOBRE_RETURN_IF_ERROR(m.Bool("per_key_labels", c.metrics_per_key));
    SOBRE_RETURN_IF_ERROR(m.CheckUnknown());
  }

  if (YAML::Node cache = r.Get("cache"); cache.IsDefined() && !cache.IsNull()) {
    MapReader k(cache, "cache", &file);
    SOBRE_RETURN_IF_ERROR(k.CheckIsMap());
    SOBRE_RETURN_IF_ERROR(k.Bool("exact", c.cache.exact));
    std::optional<int64_t> ttl, max_bytes;
    SOBRE_RETURN_IF_ERROR(k.Int("ttl_s", ttl, 1, int64_t{10} * 365 * 86400));
    SOBRE_RETURN_IF_ERROR(k.Int("max_bytes", max_bytes, 0, int64_t{1} << 40));
    SOBRE_RETURN_IF_ERROR(k.Bool("cache_nondeterministic", c.cache.cache_nondeterministic));
    if (YAML::Node sem = k.Get("semantic"); sem.IsDefined() && !sem.IsNull()) {
      MapReader sr(sem, "cache.semantic", &file);
      SOBRE_RETURN_IF_ERROR(sr.CheckIsMap());
      SemanticCacheConfig& sc = c.cache.semantic;
      sc.line = sem.Mark().line + 1;
      SOBRE_RETURN_IF_ERROR(sr.StringList("models", sc.models));
      SOBRE_RETURN_IF_ERROR(sr.StringList("keys", sc.keys));
      SOBRE_RETURN_IF_ERROR(sr.String("embedder", sc.embedder));
      SOBRE_RETURN_IF_ERROR(sr.Double("threshold", sc.threshold, 0.01, 1.0));
      std::optional<int64_t> entries;
      SOBRE_RETURN_IF_ERROR(sr.Int("max_entries", entries, 1, 100'000'000));
      if (entries) sc.max_entries = static_cast<size_t>(*entries);
      std::optional<double> fraction;
      SOBRE_RETURN_IF_ERROR(sr.Double("verify_fraction", fraction, 0, 1));
      if (fraction) sc.verify_fraction = *fraction;
      SOBRE_RETURN_IF_ERROR(sr.Double("verify_threshold", sc.verify_threshold, 0.01, 1.0));
      if (sc.embedder.empty()) return sr.KeyError("embedder", sem, "expected frugal or a model name");
      SOBRE_RETURN_IF_ERROR(sr.CheckUnknown());
    }
    SOBRE_RETURN_IF_ERROR(k.CheckUnknown());
    if (ttl) c.cache.ttl = std::chrono::seconds(*ttl);
    if (max_bytes) c.cache.max_bytes = static_cast<size_t>(*max_bytes);
  }

  if (YAML::Node models = r.Get("models"); models.IsDefined() && !models.IsNull()) {
    if (!models.IsSequence()) return r.KeyError("models", models, "expected a list of models");
    std::set<std::string> names;
    for (size_t i = 0; i < models.size(); ++i) {
      ModelConfig m;
      SOBRE_RETURN_IF_ERROR(ReadModel(models[i], i, file, m));
      if (!names.insert(m.name).second) {
        return InvalidArgumentError(fmt::format("{}:{}: models[{}]: model '{}' is declared twice",
                                                file, m.line, i, m.name));
      }
      c.models.push_back(std::move(m));
    }
    for (const ModelConfig& m : c.models) {
      for (const std::string& f : m.fallbacks) {
        if (f == m.name || names.count(f) == 0) {
          return InvalidArgumentError(fmt::format(
              "{}:{}: model '{}': fallback '{}' {}", file, m.line, m.name, f,
              f == m.name ? "is the model itself" : "is not a declared model"));
        }
      }
    }
  }

  {
    const SemanticCacheConfig& sc = c.cache.semantic;
    auto declared = [&](const std::string& name) {
      return std::any_of(c.models.begin(), c.models.end(),
                         [&](const ModelConfig& m) { return m.name == name; });
    };
    for (const std::string& m : sc.models) {
      if (m != "*" && !declared(m)) {
        return InvalidArgumentError(fmt::format(
            "{}:{}: cache.semantic.models: '{}' is not a declared model", file, sc.line, m));
      }
    }
    if (sc.embedder != "frugal" && !declared(sc.embedder)) {
      return InvalidArgumentError(fmt::format(
          "{}:{}: cache.semantic.embedder: '{}' is neither frugal nor a declared model", file,
          sc.line, sc.embedder));
    }
    if (!c.cache.exact && (!sc.models.empty() || !sc.keys.empty())) {
      return InvalidArgumentError(fmt::format(
          "{}:{}: cache.semantic needs the exact cache (cache.exact: true): it keeps the answers",
          file, sc.line));
    }
  }

  if (YAML::Node keys = r.Get("keys"); keys.IsDefined() && !keys.IsNull()) {
    if (!keys.IsSequence()) return r.KeyError("keys", keys, "expected a list of keys");
    std::set<std::string> names;
    for (size_t i = 0; i < keys.size(); ++i) {
      KeyConfig k;
      SOBRE_RETURN_IF_ERROR(ReadKey(keys[i], i, file, k));
      if (!names.insert(k.name).second) {
        return InvalidArgumentError(
            fmt::format("{}:{}: keys[{}]: key '{}' is declared twice", file, k.line, i, k.name));
      }
      c.keys.push_back(std::move(k));
    }
  }
  SOBRE_RETURN_IF_ERROR(r.CheckUnknown());
  return c;
}

}  // namespace

GatewayConfig DefaultGatewayConfig() {
  GatewayConfig c;
  c.source = "defaults";
  return c;
}

StatusOr<GatewayConfig> LoadGatewayConfig(const std::string& path) {
  SOBRE_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 4u << 20));
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(fmt::format("{}:{}: {}", path, e.mark.line + 1, e.msg));
  }
  return Parse(root, path);
}

}  // namespace sobre::gateway
