// `sobre keys create|list|revoke`: API keys on the store that `sobre serve` uses.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "cli/command.h"
#include "cli/output.h"
#include "cli/store_flags.h"
#include "store/store.h"

namespace sobre::cli {
namespace {

struct KeysFlags {
  StoreFlags store;
  std::string name;
  std::string tenant;
  bool admin = false;
  store::Limits limits;
  bool json = false;
};

std::string LimitsText(const store::Limits& l) {
  std::string out;
  auto add = [&](const char* name, auto v) {
    if (!v) return;
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {}", name, *v);
  };
  add("tokens/day", l.tokens_per_day);
  add("tokens/month", l.tokens_per_month);
  add("Wh/day", l.wh_per_day);
  add("Wh/month", l.wh_per_month);
  add("gCO2e/day", l.co2e_g_per_day);
  add("gCO2e/month", l.co2e_g_per_month);
  add("req/min", l.requests_per_minute);
  add("tokens/min", l.tokens_per_minute);
  return out.empty() ? "unlimited" : out;
}

int Create(const KeysFlags& f) {
  if (f.name.empty()) return ReportError("keys create", InvalidArgumentError("--name is required"));
  StatusOr<std::unique_ptr<store::Store>> s = OpenStoreFromFlags(f.store);
  if (!s.ok()) return ReportError("keys create", s.status());
  store::NewKey key{f.name, f.tenant, f.admin, f.limits};
  auto created = (*s)->CreateKey(key);
  if (!created.ok()) return ReportError("keys create", created.status());
  std::printf("%s\n", created->second.c_str());
  std::fprintf(stderr,
               "created key '%s' (tenant %s%s; %s). The secret above is shown once: store it now.\n",
               created->first.name.c_str(), created->first.tenant.c_str(),
               created->first.admin ? ", admin" : "", LimitsText(created->first.limits).c_str());
  return kExitOk;
}

int List(const KeysFlags& f) {
  StatusOr<std::unique_ptr<store::Store>> s = OpenStoreFromFlags(f.store);
  if (!s.ok()) return ReportError("keys list", s.status());
  auto keys = (*s)->ListKeys();
  if (!keys.ok()) return ReportError("keys list", keys.status());
  std::printf("%-20s %-16s %-14s %-8s %s\n", "NAME", "TENANT", "PREFIX", "STATE", "LIMITS");
  for (const store::ApiKey& k : *keys) {
    std::printf("%-20s %-16s %-14s %-8s %s%s\n", k.name.c_str(), k.tenant.c_str(), k.prefix.c_str(),
                k.revoked ? "revoked" : "live", LimitsText(k.limits).c_str(), k.admin ? " (admin)" : "");
  }
  return kExitOk;
}

int Revoke(const KeysFlags& f) {
  StatusOr<std::unique_ptr<store::Store>> s = OpenStoreFromFlags(f.store);
  if (!s.ok()) return ReportError("keys revoke", s.status());
  Status st = (*s)->RevokeKey(f.name);
  if (!st.ok()) return ReportError("keys revoke", st);
  std::fprintf(stderr, "revoked key '%s'\n", f.name.c_str());
  return kExitOk;
}

}  // namespace

void AddKeysCommand(CLI::App& app, CliContext& ctx) {
  auto f = std::make_shared<KeysFlags>();
  CLI::App* keys = app.add_subcommand("keys", "Create, list and revoke the API keys of sobre serve.");
  keys->require_subcommand(1);

  CLI::App* create = keys->add_subcommand(
      "create", "Create a key and print its secret once (only its SHA-256 is stored).");
  AddStoreFlags(create, f->store);
  create->add_option("--name", f->name, "Unique name of the key")->required();
  create->add_option("--tenant", f->tenant, "Tenant (cache and report namespace; default: the name)");
  create->add_flag("--admin", f->admin, "May call admin endpoints");
  create->add_option("--tokens-per-day", f->limits.tokens_per_day, "Budget in tokens per UTC day")
      ->check(CLI::PositiveNumber);
  create->add_option("--tokens-per-month", f->limits.tokens_per_month, "Budget in tokens per month")
      ->check(CLI::PositiveNumber);
  create->add_option("--wh-per-day", f->limits.wh_per_day, "Energy budget in Wh per day")
      ->check(CLI::NonNegativeNumber);
  create->add_option("--wh-per-month", f->limits.wh_per_month, "Energy budget in Wh per month")
      ->check(CLI::NonNegativeNumber);
  create->add_option("--co2e-g-per-day", f->limits.co2e_g_per_day, "Carbon budget in gCO2e per day")
      ->check(CLI::NonNegativeNumber);
  create->add_option("--co2e-g-per-month", f->limits.co2e_g_per_month,
                     "Carbon budget in gCO2e per month")
      ->check(CLI::NonNegativeNumber);
  create->add_option("--requests-per-minute", f->limits.requests_per_minute, "Rate limit")
      ->check(CLI::PositiveNumber);
  create->add_option("--tokens-per-minute", f->limits.tokens_per_minute, "Rate limit")
      ->check(CLI::PositiveNumber);
  create->callback([f, &ctx] { ctx.exit_code = Create(*f); });

  CLI::App* list = keys->add_subcommand("list", "List keys (never their secrets).");
  AddStoreFlags(list, f->store);
  list->callback([f, &ctx] { ctx.exit_code = List(*f); });

  CLI::App* revoke = keys->add_subcommand("revoke", "Revoke a key by name.");
  AddStoreFlags(revoke, f->store);
  revoke->add_option("name", f->name, "Name of the key")->required();
  revoke->callback([f, &ctx] { ctx.exit_code = Revoke(*f); });
}

}  // namespace sobre::cli
