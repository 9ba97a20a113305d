// `sobre bench cache`: hit rate and precision of the semantic cache on a labelled paraphrase set,
// per embedder and threshold, pairwise and as retrieval among every cached text.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <fmt/core.h>

#include "backend/upstream_backend.h"
#include "cache/embedder.h"
#include "cache/evaluation.h"
#include "cli/command.h"
#include "cli/output.h"
#include "core/file.h"
#include "core/strings.h"

namespace sobre::cli {
namespace {

namespace json = boost::json;
using cache::EmbedderEvaluation;
using cache::HitCounts;
using cache::ParaphrasePair;
using cache::SetHalf;
using cache::ThresholdEvaluation;

constexpr std::string_view kCommand = "bench cache";
constexpr std::string_view kDefaultSet = "tests/data/paraphrases/pairs.tsv";

struct BenchCacheFlags {
  std::string set;
  std::string thresholds;
  std::vector<std::string> embedders = {"frugal"};
  std::string half = "all";
  std::string api_key_env;
  bool no_guards = false;
  bool show_false = false;
  bool json = false;
};

// The shipped set: relative to the working directory, else in the source tree above the binary
// (build directories live inside the checkout).
StatusOr<std::string> FindDefaultSet() {
  if (FileExists(std::string(kDefaultSet))) return std::string(kDefaultSet);
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  for (int up = 0; !ec && up < 8 && !dir.empty(); ++up) {
    std::filesystem::path candidate = dir / kDefaultSet;
    if (FileExists(candidate.string())) return candidate.string();
    if (dir == dir.parent_path()) break;
    dir = dir.parent_path();
  }
  return NotFoundError(fmt::format(
      "--set: no {} in the working directory or above the sobre binary; give the file", kDefaultSet));
}

StatusOr<std::vector<double>> ParseThresholds(const std::string& text) {
  std::vector<double> out;
  for (std::string_view part : Split(text, ',')) {
    StatusOr<double> t = ParseDouble(part);
    if (!t.ok() || *t < -1.0 || *t > 1.0) {
      return InvalidArgumentError(fmt::format(
          "--thresholds: \"{}\" is not a similarity in [-1, 1] (e.g. 0.7,0.8,0.9)", Trim(part)));
    }
    out.push_back(*t);
  }
  return out;
}

StatusOr<SetHalf> ParseHalf(const std::string& text) {
  for (SetHalf h : {SetHalf::kAll, SetHalf::kCalibration, SetHalf::kHeldOut}) {
    if (text == cache::SetHalfName(h)) return h;
  }
  return InvalidArgumentError("--half: \"" + text + "\": expected all, calibration or held-out");
}

// "http://host:port/v1:model" -> base URL and model: the model starts at the first ':' after
// the first '/' of the URL's path, so ports and model tags ("nomic-embed-text:v1.5") both work.
struct BackendSpec {
  std::string base_url;
  std::string model;
};
StatusOr<BackendSpec> ParseBackendSpec(const std::string& spec) {
  auto bad = [&spec] {
    return InvalidArgumentError(fmt::format(
        "--embedder: \"{}\": expected frugal or URL:MODEL, e.g. http://127.0.0.1:8080/v1:bge-small",
        spec));
  };
  size_t scheme = spec.find("://");
  if (scheme == std::string::npos || !(StartsWith(spec, "http://") || StartsWith(spec, "https://"))) {
    return bad();
  }
  size_t path = spec.find('/', scheme + 3);
  if (path == std::string::npos) return bad();
  size_t colon = spec.find(':', path);
  if (colon == std::string::npos || colon + 1 == spec.size()) return bad();
  return BackendSpec{spec.substr(0, colon), spec.substr(colon + 1)};
}

// Embeds the set with one embedder and evaluates it. The io_context outlives the backend, as
// UpstreamBackend's contract asks.
StatusOr<EmbedderEvaluation> EvaluateEmbedder(const std::string& spec,
                                              const std::vector<ParaphrasePair>& pairs,
                                              const std::vector<ParaphrasePair>& labels,
                                              const cache::EvaluationOptions& base_options,
                                              const std::string& api_key_env) {
  boost::asio::io_context io;
  std::unique_ptr<backend::UpstreamBackend> backend;
  std::unique_ptr<cache::Embedder> embedder;
  if (spec == "frugal") {
    embedder = std::make_unique<cache::FrugalEmbedder>();
  } else {
    SOBRE_ASSIGN_OR_RETURN(BackendSpec parsed, ParseBackendSpec(spec));
    backend::UpstreamOptions o;
    o.base_url = parsed.base_url;
    if (!api_key_env.empty()) {
      const char* key = std::getenv(api_key_env.c_str());
      if (key == nullptr || *key == '\0') {
        return InvalidArgumentError("--api-key-env: environment variable " + api_key_env +
                                    " is not set");
      }
      o.api_key = key;
    }
    StatusOr<std::unique_ptr<backend::UpstreamBackend>> b = backend::UpstreamBackend::Create(o);
    if (!b.ok()) return b.status().WithContext("--embedder " + spec);
    backend = std::move(*b);
    embedder = std::make_unique<cache::BackendEmbedder>(
        backend.get(), cache::BackendEmbedderOptions{.model = parsed.model});
  }
  StatusOr<cache::TextEmbeddings> embeddings = cache::EmbedPairTexts(*embedder, pairs, io);
  if (backend != nullptr) backend->ReleaseConnections();
  if (!embeddings.ok()) return embeddings.status();
  cache::EvaluationOptions options = base_options;
  options.thresholds.push_back(embedder->default_threshold());
  return cache::EvaluatePairs(pairs, *embeddings, embedder->name(), embedder->default_threshold(),
                              options, &labels);
}

bool IsDefault(const EmbedderEvaluation& e, const ThresholdEvaluation& t) {
  return std::abs(t.threshold - e.default_threshold) < 1e-9;
}

std::string Percent(double v) { return fmt::format("{:.1f}%", 100 * v); }

std::string Columns(const HitCounts& c) {
  return fmt::format("{:>5} {:>8} {:>9} {:>9} {:>5}", c.hits, Percent(c.hit_rate()),
                     c.hits == 0 ? std::string("-") : Percent(c.precision()),
                     c.hits == 0 ? std::string("-") : Percent(c.precision_lower_95()),
                     c.hits - c.correct_hits);
}

void AppendFalseHits(std::string& out, std::string_view kind,
                     const std::vector<cache::FalseHit>& hits) {
  out += fmt::format("  false {} hits: {}\n", kind, hits.size());
  for (const cache::FalseHit& h : hits) {
    out += fmt::format("    {} {} {:.3f}: \"{}\" served \"{}\"\n", h.pair_id, h.category,
                       h.similarity, h.query, h.cached);
  }
}

std::string Text(const EmbedderEvaluation& e, bool guards, bool show_false) {
  std::string out = fmt::format(
      "\nembedder {} (default threshold {:.2f}, guards {})\n", e.embedder, e.default_threshold,
      guards ? "on" : "off");
  out += fmt::format("  {:<10} {:<40} {}\n", "", "pairwise (each pair alone)",
                     fmt::format("retrieval (top-1 among {} cached texts)", e.indexed_texts));
  std::string head = fmt::format("{:>5} {:>8} {:>9} {:>9} {:>5}", "hits", "hit rate",
                                 "precision", "95% low", "false");
  out += fmt::format("  {:<10} {}   {}\n", "threshold", head, head);
  for (const ThresholdEvaluation& t : e.thresholds) {
    out += fmt::format("{} {:<10.2f} {}   {}\n", IsDefault(e, t) ? "*" : " ", t.threshold,
                       Columns(t.pairwise), Columns(t.retrieval));
  }
  out += "  (* default threshold; hit rate = right answers among queries that have one; "
         "precision = right answers among hits)\n";
  for (const ThresholdEvaluation& t : e.thresholds) {
    if (!IsDefault(e, t)) continue;
    out += "  pairwise hits by category at the default threshold:\n";
    for (const auto& [category, c] : t.pairwise_by_category) {
      if (c.duplicates > 0) {
        out += fmt::format("    {:<14} duplicate  {:>3} of {:>3} hit\n", category, c.correct_hits,
                           c.duplicates);
      } else {
        out += fmt::format("    {:<14} different  {:>3} false hits\n", category, c.hits);
      }
    }
    if (show_false) {
      AppendFalseHits(out, "pairwise", t.pairwise_false_hits);
      AppendFalseHits(out, "retrieval", t.retrieval_false_hits);
    }
  }
  return out;
}

json::object CountsJson(const HitCounts& c) {
  return {{"hits", c.hits},
          {"correct_hits", c.correct_hits},
          {"duplicates", c.duplicates},
          {"hit_rate", c.hit_rate()},
          {"precision", c.hits > 0 ? json::value(c.precision()) : nullptr},
          {"precision_lower_95", c.hits > 0 ? json::value(c.precision_lower_95()) : nullptr}};
}

json::array FalseHitsJson(const std::vector<cache::FalseHit>& hits) {
  json::array a;
  for (const cache::FalseHit& h : hits) {
    a.push_back(json::object{{"pair_id", h.pair_id},
                             {"category", h.category},
                             {"query", h.query},
                             {"cached", h.cached},
                             {"similarity", h.similarity}});
  }
  return a;
}

json::object Json(const EmbedderEvaluation& e, bool show_false) {
  json::array thresholds;
  for (const ThresholdEvaluation& t : e.thresholds) {
    json::object by_category;
    for (const auto& [category, c] : t.pairwise_by_category) by_category[category] = CountsJson(c);
    json::object o{{"threshold", t.threshold},
                   {"default", IsDefault(e, t)},
                   {"pairwise", CountsJson(t.pairwise)},
                   {"retrieval", CountsJson(t.retrieval)},
                   {"pairwise_by_category", std::move(by_category)}};
    if (show_false) {
      o["pairwise_false_hits"] = FalseHitsJson(t.pairwise_false_hits);
      o["retrieval_false_hits"] = FalseHitsJson(t.retrieval_false_hits);
    }
    thresholds.push_back(std::move(o));
  }
  return {{"embedder", e.embedder},
          {"default_threshold", e.default_threshold},
          {"pairs", e.pairs},
          {"duplicate_pairs", e.duplicate_pairs},
          {"indexed_texts", e.indexed_texts},
          {"thresholds", std::move(thresholds)}};
}

int RunBenchCache(const BenchCacheFlags& f) {
  std::string set_path = f.set;
  if (set_path.empty()) {
    StatusOr<std::string> found = FindDefaultSet();
    if (!found.ok()) return ReportError(kCommand, found.status());
    set_path = *found;
  }
  cache::EvaluationOptions options;
  options.use_guards = !f.no_guards;
  if (!f.thresholds.empty()) {
    StatusOr<std::vector<double>> t = ParseThresholds(f.thresholds);
    if (!t.ok()) return ReportError(kCommand, t.status());
    options.thresholds = *t;
  }
  StatusOr<SetHalf> half = ParseHalf(f.half);
  if (!half.ok()) return ReportError(kCommand, half.status());
  StatusOr<std::vector<ParaphrasePair>> all = cache::LoadParaphraseSet(set_path);
  if (!all.ok()) {
    // A set that exists but is malformed is bad input data, not a usage error.
    int code = ReportError(kCommand, all.status());
    return all.status().code() == StatusCode::kInvalidArgument ? kExitFailure : code;
  }
  std::vector<ParaphrasePair> pairs = cache::SelectHalf(*all, *half);
  if (pairs.empty()) {
    return ReportError(kCommand, InvalidArgumentError(fmt::format(
                                     "--half {}: no pairs in {}", f.half, set_path)));
  }
  std::vector<EmbedderEvaluation> evaluations;
  for (const std::string& spec : f.embedders) {
    StatusOr<EmbedderEvaluation> e = EvaluateEmbedder(spec, pairs, *all, options, f.api_key_env);
    if (!e.ok()) {
      return ReportError(kCommand, e.status());
    }
    evaluations.push_back(std::move(*e));
  }

  size_t duplicates = 0;
  for (const ParaphrasePair& p : pairs) duplicates += p.label == cache::PairLabel::kDuplicate;
  if (f.json) {
    json::array embedders;
    for (const EmbedderEvaluation& e : evaluations) embedders.push_back(Json(e, f.show_false));
    json::object o{{"set", set_path},
                   {"half", f.half},
                   {"pairs", pairs.size()},
                   {"duplicate_pairs", duplicates},
                   {"guards", !f.no_guards},
                   {"embedders", std::move(embedders)}};
    std::fputs(PrettyJson(o).c_str(), stdout);
    return kExitOk;
  }
  std::string out = fmt::format("Semantic cache on {} (half: {}): {} pairs, {} duplicates, {} "
                                "different\n",
                                set_path, f.half, pairs.size(), duplicates,
                                pairs.size() - duplicates);
  for (const EmbedderEvaluation& e : evaluations) out += Text(e, !f.no_guards, f.show_false);
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

}  // namespace

void AddBenchCacheCommand(CLI::App& bench, CliContext& ctx) {
  auto flags = std::make_shared<BenchCacheFlags>();
  CLI::App* cmd = bench.add_subcommand(
      "cache", "Hit rate and precision of the semantic cache on a labelled paraphrase set");
  cmd->add_option("--set", flags->set,
                  "Paraphrase set (TSV: id, category, label, text_a, text_b); default "
                  "tests/data/paraphrases/pairs.tsv of the source tree");
  cmd->add_option("--thresholds", flags->thresholds,
                  "Comma-separated similarity thresholds (default 0.7,0.75,...,0.95; the "
                  "embedder's default is always added)");
  cmd->add_option("--embedder", flags->embedders,
                  "frugal, or URL:MODEL of an OpenAI-compatible /v1/embeddings (e.g. "
                  "http://127.0.0.1:8080/v1:bge-small); repeat for several")
      ->capture_default_str();
  cmd->add_option("--api-key-env", flags->api_key_env,
                  "Environment variable holding the API key of the embeddings server");
  cmd->add_option("--half", flags->half,
                  "all, calibration (ids ending in an odd digit) or held-out (even)")
      ->capture_default_str();
  cmd->add_flag("--no-guards", flags->no_guards, "Judge hits by similarity alone");
  cmd->add_flag("--show-false", flags->show_false,
                "List the false hits (text: at the default threshold; JSON: at every threshold)");
  cmd->add_flag("--json", flags->json, "Print the result as JSON on stdout");
  cmd->callback([flags, &ctx] { ctx.exit_code = RunBenchCache(*flags); });
}

}  // namespace sobre::cli
