// `sobre cache stats | purge`: look at and empty the answer cache kept in the store. A running
// `sobre serve` also holds entries in memory: purge those through its admin endpoint
// (POST /v1/admin/cache/purge), which empties memory, index and store together.
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <boost/json/object.hpp>
#include <fmt/core.h>

#include "cli/command.h"
#include "cli/output.h"
#include "cli/store_flags.h"
#include "store/store.h"

namespace sobre::cli {
namespace {

namespace json = boost::json;

struct CacheFlags {
  StoreFlags store;
  std::optional<std::string> key;
  std::optional<std::string> model;
  bool all = false;
  int days = 7;
  bool json = false;
};

// The cache kind of a ledger row's cache_status ("semantic; similarity=0.93" -> "semantic").
std::string KindOf(const std::string& status) {
  const size_t end = status.find(';');
  return status.substr(0, end);
}

int Stats(const CacheFlags& f) {
  StatusOr<std::unique_ptr<store::Store>> s = OpenStoreFromFlags(f.store);
  if (!s.ok()) return ReportError("cache stats", s.status());
  const auto now = std::chrono::system_clock::now();
  auto entries = (*s)->LoadCacheEntries(now, SIZE_MAX);
  if (!entries.ok()) return ReportError("cache stats", entries.status());
  struct ModelEntries {
    int64_t entries = 0;
    int64_t semantic = 0;
    int64_t bytes = 0;
    double energy_wh = 0;  // Of the original answers: what one hit on each would avoid.
  };
  std::map<std::string, ModelEntries> by_model;
  for (const store::CacheEntryRecord& e : *entries) {
    ModelEntries& m = by_model[e.model];
    ++m.entries;
    if (!e.embedding.empty()) ++m.semantic;
    m.bytes += static_cast<int64_t>(e.body.size());
    m.energy_wh += e.energy_wh;
  }
  const auto from = now - std::chrono::hours(24) * f.days;
  auto rows = (*s)->ReadLedger(from, now + std::chrono::minutes(1), SIZE_MAX);
  if (!rows.ok()) return ReportError("cache stats", rows.status());
  std::map<std::string, int64_t> by_kind;
  double avoided_wh = 0;
  double avoided_g = 0;
  int64_t verified = 0;
  int64_t disagreed = 0;
  for (const store::LedgerRow& r : *rows) {
    const std::string kind = KindOf(r.cache_status);
    if (kind == "verify") {
      ++verified;
      if (r.cache_status.find("disagree") != std::string::npos) ++disagreed;
      continue;
    }
    ++by_kind[kind.empty() ? "bypass" : kind];
    avoided_wh += r.avoided_energy_wh;
    avoided_g += r.avoided_co2e_g;
  }
  const int64_t hits = by_kind["exact"] + by_kind["semantic"];
  const int64_t looked_up = hits + by_kind["miss"];
  const double hit_ratio = looked_up == 0 ? 0.0 : static_cast<double>(hits) / looked_up;

  if (f.json) {
    json::object out;
    json::object models;
    for (const auto& [name, m] : by_model) {
      models[name] = json::object{{"entries", m.entries}, {"semantic_entries", m.semantic},
                                  {"body_bytes", m.bytes}, {"original_energy_wh", m.energy_wh}};
    }
    out["entries"] = std::move(models);
    json::object ledger;
    ledger["days"] = f.days;
    for (const auto& [kind, n] : by_kind) ledger[kind] = n;
    ledger["hit_ratio"] = hit_ratio;
    ledger["avoided_energy_wh"] = avoided_wh;
    ledger["avoided_co2e_g"] = avoided_g;
    ledger["verifications"] = verified;
    ledger["verifications_disagreeing"] = disagreed;
    out["ledger"] = std::move(ledger);
    std::printf("%s\n", PrettyJson(out).c_str());
    return kExitOk;
  }
  std::printf("Live cache entries in the store (%zu):\n", entries->size());
  std::printf("  %-28s %10s %10s %14s %16s\n", "MODEL", "ENTRIES", "SEMANTIC", "BODY BYTES",
              "ORIGINAL Wh");
  for (const auto& [name, m] : by_model) {
    std::printf("  %-28s %10lld %10lld %14lld %16.6g\n", name.c_str(),
                static_cast<long long>(m.entries), static_cast<long long>(m.semantic),
                static_cast<long long>(m.bytes), m.energy_wh);
  }
  std::printf("\nRequests in the ledger, last %d days:\n", f.days);
  for (const char* kind : {"exact", "semantic", "miss", "bypass"}) {
    std::printf("  %-10s %lld\n", kind, static_cast<long long>(by_kind[kind]));
  }
  std::printf("  hit ratio  %.1f%% of requests looked up\n", 100 * hit_ratio);
  std::printf("  avoided    %.6g Wh, %.6g gCO2e (the original answers' footprints: %s)\n",
              avoided_wh, avoided_g, "measured or estimated as each was recorded");
  if (verified > 0) {
    std::printf("  verified   %lld semantic hits, %lld disagreed (measured false-hit rate %.1f%%)\n",
                static_cast<long long>(verified), static_cast<long long>(disagreed),
                100.0 * static_cast<double>(disagreed) / static_cast<double>(verified));
  }
  return kExitOk;
}

int Purge(const CacheFlags& f) {
  if (!f.key && !f.model && !f.all) {
    return ReportError("cache purge",
                       InvalidArgumentError("say what to purge: --key K, --model M, or --all"));
  }
  StatusOr<std::unique_ptr<store::Store>> s = OpenStoreFromFlags(f.store);
  if (!s.ok()) return ReportError("cache purge", s.status());
  store::CacheEntryFilter filter;
  if (f.key) {
    auto keys = (*s)->ListKeys();
    if (!keys.ok()) return ReportError("cache purge", keys.status());
    for (const store::ApiKey& k : *keys) {
      if (k.name == *f.key) filter.tenant = k.tenant.empty() ? k.name : k.tenant;
    }
    if (!filter.tenant) {
      return ReportError("cache purge", NotFoundError("no key named '" + *f.key + "' in the store"));
    }
  }
  filter.model = f.model;
  auto purged = (*s)->PurgeCacheEntries(filter);
  if (!purged.ok()) return ReportError("cache purge", purged.status());
  std::printf("%lld\n", static_cast<long long>(*purged));
  std::fprintf(stderr,
               "purged %lld entries from the store%s%s. A running sobre serve still holds its "
               "in-memory copies: use POST /v1/admin/cache/purge on it to empty both.\n",
               static_cast<long long>(*purged),
               filter.tenant ? (" of tenant " + *filter.tenant).c_str() : "",
               f.model ? (" of model " + *f.model).c_str() : "");
  return kExitOk;
}

}  // namespace

void AddCacheCommand(CLI::App& app, CliContext& ctx) {
  auto f = std::make_shared<CacheFlags>();
  CLI::App* cache = app.add_subcommand(
      "cache", "Look at and purge the exact and semantic answer cache of sobre serve.");
  cache->require_subcommand(1);

  CLI::App* stats = cache->add_subcommand(
      "stats", "Entries by model (and how many are semantic), and from the ledger: requests by "
               "cache outcome, hit ratio, the energy and carbon hits avoided, verifications.");
  AddStoreFlags(stats, f->store);
  stats->add_option("--days", f->days, "Ledger window, days back from now")
      ->check(CLI::Range(1, 3650))
      ->capture_default_str();
  stats->add_flag("--json", f->json, "Print JSON");
  stats->callback([f, &ctx] { ctx.exit_code = Stats(*f); });

  CLI::App* purge = cache->add_subcommand(
      "purge", "Delete cache entries from the store: a key's (its tenant's), a model's, or all. "
               "For a running server use POST /v1/admin/cache/purge, which also empties its memory.");
  AddStoreFlags(purge, f->store);
  purge->add_option("--key", f->key, "Name of the API key whose tenant's entries to delete");
  purge->add_option("--model", f->model, "Model name whose entries to delete");
  purge->add_flag("--all", f->all, "Delete every entry");
  purge->callback([f, &ctx] { ctx.exit_code = Purge(*f); });
}

}  // namespace sobre::cli
