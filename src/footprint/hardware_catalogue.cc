// HardwareCatalogue: parses data/hardware_*.csv (compiled in) and user override files, and matches
// GPU, CPU and server names against them.
#include "footprint/hardware_catalogue.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/csv.h"
#include "core/file.h"
#include "core/strings.h"
#include "footprint/builtin_data.h"

namespace sobre::footprint {
namespace {

// Override files are a few lines written by hand; anything this large is a mistake.
constexpr size_t kMaxOverrideFileBytes = 4u << 20;
constexpr size_t kClosestCount = 3;

// Sanity bounds: values outside them are typos (kW for W, g for kg), not hardware.
constexpr double kMaxTdpW = 5000;
constexpr double kMaxMemoryGb = 100000;
constexpr double kMaxDeviceEmbodiedKg = 100000;
constexpr double kMaxServerEmbodiedKg = 10000000;
constexpr double kMaxLifetimeHours = 1000000;
constexpr int64_t kMaxCount = 100000;


std::string Where(std::string_view source, int line) {
  return std::string(source) + ":" + std::to_string(line);
}

// Removes a leading vendor or product-line word so that "NVIDIA A10G", "Tesla T4", "GeForce RTX
// 3090" and "Intel Xeon Gold 6248" also match "A10G", "T4", "RTX 3090" and "Xeon Gold 6248".
std::string MatchKey(std::string_view name) {
  static constexpr std::string_view kPrefixes[] = {"nvidia", "tesla", "geforce",
                                                   "quadro", "amd",   "intel"};
  std::string key = NormalizeName(name);
  bool stripped = true;
  while (stripped) {
    stripped = false;
    for (std::string_view prefix : kPrefixes) {
      if (key.size() > prefix.size() && StartsWith(key, prefix)) {
        key.erase(0, prefix.size());
        stripped = true;
      }
    }
  }
  return key;
}

std::vector<std::string> KeysOf(const GpuSpec& g) {
  std::vector<std::string> keys{g.name};
  keys.insert(keys.end(), g.aliases.begin(), g.aliases.end());
  return keys;
}
std::vector<std::string> KeysOf(const CpuSpec& c) { return {c.name}; }
std::vector<std::string> KeysOf(const ServerSpec& s) { return {s.name}; }

template <typename Spec>
const Spec* FindByKey(const std::vector<Spec>& rows, std::string_view name) {
  std::string key = MatchKey(name);
  if (key.empty()) return nullptr;
  for (const Spec& row : rows) {
    for (const std::string& k : KeysOf(row)) {
      if (MatchKey(k) == key) return &row;
    }
  }
  return nullptr;
}

template <typename Spec>
Status UnknownName(const std::vector<Spec>& rows, std::string_view kind, std::string_view name) {
  // Rank names and aliases together, then report each row once by its canonical name.
  std::vector<std::string> candidates;
  std::vector<const std::string*> owner;
  for (const Spec& row : rows) {
    for (const std::string& k : KeysOf(row)) {
      candidates.push_back(k);
      owner.push_back(&row.name);
    }
  }
  std::vector<std::string> ranked = ClosestNames(name, candidates, candidates.size());
  std::vector<std::string> closest;
  for (const std::string& r : ranked) {
    for (size_t i = 0; i < candidates.size(); ++i) {
      if (candidates[i] != r) continue;
      const std::string& row_name = *owner[i];
      bool seen = false;
      for (const std::string& c : closest) seen = seen || c == row_name;
      if (!seen) closest.push_back(row_name);
      break;
    }
    if (closest.size() == kClosestCount) break;
  }
  return NotFoundError("unknown " + std::string(kind) + " '" + std::string(name) +
                       "'; closest catalogue entries: " + Join(closest, ", "));
}

std::string FormatNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Parses a number in [min, max] (min exclusive when `min_exclusive`). Errors name the column.
StatusOr<double> ParseBounded(std::string_view column, std::string_view text, double min,
                              double max, bool min_exclusive) {
  StatusOr<double> v = ParseDouble(text);
  if (!v.ok()) return v.status().WithContext("column " + std::string(column));
  bool low = min_exclusive ? *v <= min : *v < min;
  if (low || *v > max) {
    return InvalidArgumentError("column " + std::string(column) + ": " + std::string(Trim(text)) +
                                " is out of range " + (min_exclusive ? "(" : "[") +
                                FormatNumber(min) + ", " + FormatNumber(max) + "]");
  }
  return *v;
}

StatusOr<int> ParseCount(std::string_view column, std::string_view text) {
  if (Trim(text).empty()) return 0;
  StatusOr<int64_t> v = ParseInt64(text);
  if (!v.ok()) return v.status().WithContext("column " + std::string(column));
  if (*v < 0 || *v > kMaxCount) {
    return InvalidArgumentError("column " + std::string(column) + ": " + std::string(Trim(text)) +
                                " is out of range [0, " + std::to_string(kMaxCount) + "]");
  }
  return static_cast<int>(*v);
}

Status RequireText(std::string_view column, std::string_view text) {
  if (Trim(text).empty()) {
    return InvalidArgumentError("column " + std::string(column) + " is empty");
  }
  return OkStatus();
}

// A name must keep some letters or digits once normalised, or it could never be looked up.
Status RequireName(std::string_view column, std::string_view text) {
  SOBRE_RETURN_IF_ERROR(RequireText(column, text));
  if (MatchKey(text).empty()) {
    return InvalidArgumentError("column " + std::string(column) + ": '" + std::string(Trim(text)) +
                                "' has no letters or digits");
  }
  return OkStatus();
}

}  // namespace

// Turns CSV rows into specs. A friend of HardwareCatalogue so that it can fill the private vectors.
class HardwareCatalogueLoader {
 public:
  static constexpr std::string_view kGpuColumns[] = {"name",      "aliases",         "tdp_w",
                                                     "memory_gb", "embodied_kgco2e", "source"};
  static constexpr std::string_view kCpuColumns[] = {"name", "tdp_w", "cores", "threads", "source"};
  static constexpr std::string_view kServerColumns[] = {"name", "embodied_kgco2e", "lifetime_hours",
                                                        "source"};

  // Parses the three shipped files into `catalogue`.
  static Status LoadBuiltin(HardwareCatalogue& catalogue) {
    SOBRE_RETURN_IF_ERROR(LoadTable(kData_hardware_gpus, "data/hardware_gpus.csv", kGpuColumns,
                                    ParseGpu, catalogue.gpus_));
    SOBRE_RETURN_IF_ERROR(LoadTable(kData_hardware_cpus, "data/hardware_cpus.csv", kCpuColumns,
                                    ParseCpu, catalogue.cpus_));
    SOBRE_RETURN_IF_ERROR(LoadTable(kData_hardware_servers, "data/hardware_servers.csv",
                                    kServerColumns, ParseServer, catalogue.servers_));
    return OkStatus();
  }

  // Applies an override file: `kind` first, then that kind's columns in the shipped files' order.
  // Lines whose first field is "kind" are headers and skipped.
  static Status ApplyOverrides(HardwareCatalogue& catalogue, std::string_view text,
                               const std::string& path) {
    SOBRE_ASSIGN_OR_RETURN(std::vector<CsvLine> lines, ReadCsvLines(text, path));
    Index<GpuSpec> gpus(catalogue.gpus_);
    Index<CpuSpec> cpus(catalogue.cpus_);
    Index<ServerSpec> servers(catalogue.servers_);
    for (const CsvLine& l : lines) {
      std::string kind = ToLower(Trim(l.fields[0]));
      if (kind == "kind") continue;
      std::vector<std::string> rest(l.fields.begin() + 1, l.fields.end());
      Status s;
      if (kind == "gpu") {
        s = Override(gpus, rest, kGpuColumns, ParseGpu, l.line);
      } else if (kind == "cpu") {
        s = Override(cpus, rest, kCpuColumns, ParseCpu, l.line);
      } else if (kind == "server") {
        s = Override(servers, rest, kServerColumns, ParseServer, l.line);
      } else {
        s = InvalidArgumentError("column kind: '" + l.fields[0] +
                                 "' is not one of gpu, cpu, server");
      }
      if (!s.ok()) return s.WithContext(Where(path, l.line));
    }
    return OkStatus();
  }

 private:
  // The rows of one kind with their names and aliases indexed, so that a long override file costs
  // O(lines * log rows) and every clash is caught on the line that causes it.
  template <typename Spec>
  class Index {
   public:
    explicit Index(std::vector<Spec>& rows) : rows_(rows) {
      for (size_t i = 0; i < rows_.size(); ++i) {
        names_.emplace(MatchKey(rows_[i].name), i);
        for (const std::string& k : KeysOf(rows_[i])) keys_.emplace(MatchKey(k), i);
      }
    }

    // Adds `spec`, or replaces the row of the same name. Fails if a name or alias of `spec` already
    // names another row, or if `spec` was already given on an earlier line of the same file.
    Status Put(Spec spec, int line) {
      std::string name_key = MatchKey(spec.name);
      size_t index = rows_.size();
      if (auto it = names_.find(name_key); it != names_.end()) {
        index = it->second;
        if (auto seen = lines_.find(index); seen != lines_.end()) {
          return InvalidArgumentError("'" + spec.name + "' is already given on line " +
                                      std::to_string(seen->second));
        }
      }
      for (const std::string& k : KeysOf(spec)) {
        auto it = keys_.find(MatchKey(k));
        if (it != keys_.end() && it->second != index) {
          return InvalidArgumentError("column name/aliases: '" + k + "' already names '" +
                                      rows_[it->second].name + "'");
        }
      }
      if (index == rows_.size()) {
        rows_.push_back(std::move(spec));
        names_.emplace(name_key, index);
      } else {
        for (const std::string& k : KeysOf(rows_[index])) keys_.erase(MatchKey(k));
        rows_[index] = std::move(spec);
      }
      for (const std::string& k : KeysOf(rows_[index])) keys_.emplace(MatchKey(k), index);
      lines_.emplace(index, line);
      return OkStatus();
    }

   private:
    std::vector<Spec>& rows_;
    std::map<std::string, size_t> names_;  // MatchKey(name) -> row.
    std::map<std::string, size_t> keys_;   // MatchKey(name or alias) -> row.
    std::map<size_t, int> lines_;          // Row -> override line that set it.
  };

  template <typename Spec, size_t N, typename Parse>
  static Status Override(Index<Spec>& index, const std::vector<std::string>& fields,
                         const std::string_view (&columns)[N], Parse parse, int line) {
    SOBRE_RETURN_IF_ERROR(CheckWidth(fields, columns));
    SOBRE_ASSIGN_OR_RETURN(Spec spec, parse(fields));
    return index.Put(std::move(spec), line);
  }

  template <typename Spec, size_t N, typename Parse>
  static Status LoadTable(std::string_view text, std::string_view source,
                          const std::string_view (&columns)[N], Parse parse,
                          std::vector<Spec>& rows) {
    SOBRE_ASSIGN_OR_RETURN(std::vector<CsvLine> lines, ReadCsvLines(text, source));
    if (lines.empty()) return InvalidArgumentError(std::string(source) + ": no header line");
    const std::vector<std::string>& header = lines[0].fields;
    bool header_ok = header.size() == N;
    for (size_t i = 0; header_ok && i < N; ++i) header_ok = ToLower(header[i]) == columns[i];
    if (!header_ok) {
      return InvalidArgumentError(Where(source, lines[0].line) + ": header must be " +
                                  JoinColumns(columns));
    }
    Index<Spec> index(rows);
    for (size_t i = 1; i < lines.size(); ++i) {
      Status s = CheckWidth(lines[i].fields, columns);
      if (s.ok()) {
        StatusOr<Spec> spec = parse(lines[i].fields);
        s = spec.ok() ? index.Put(std::move(spec).value(), lines[i].line) : spec.status();
      }
      if (!s.ok()) return s.WithContext(Where(source, lines[i].line));
    }
    return OkStatus();
  }

  template <size_t N>
  static std::string JoinColumns(const std::string_view (&columns)[N]) {
    std::string out;
    for (size_t i = 0; i < N; ++i) {
      if (i > 0) out += ",";
      out += columns[i];
    }
    return out;
  }

  template <size_t N>
  static Status CheckWidth(const std::vector<std::string>& fields,
                           const std::string_view (&columns)[N]) {
    if (fields.size() == N) return OkStatus();
    return InvalidArgumentError("expected " + std::to_string(N) + " columns (" +
                                JoinColumns(columns) + "), got " + std::to_string(fields.size()));
  }

  static StatusOr<GpuSpec> ParseGpu(const std::vector<std::string>& f) {
    GpuSpec g;
    SOBRE_RETURN_IF_ERROR(RequireName("name", f[0]));
    g.name = std::string(Trim(f[0]));
    for (std::string_view alias : Split(f[1], '|')) {
      alias = Trim(alias);
      if (alias.empty()) continue;
      SOBRE_RETURN_IF_ERROR(RequireName("aliases", alias));
      g.aliases.emplace_back(alias);
    }
    SOBRE_ASSIGN_OR_RETURN(g.tdp_w, ParseBounded("tdp_w", f[2], 0, kMaxTdpW, true));
    if (!Trim(f[3]).empty()) {
      SOBRE_ASSIGN_OR_RETURN(g.memory_gb, ParseBounded("memory_gb", f[3], 0, kMaxMemoryGb, false));
    }
    if (!Trim(f[4]).empty()) {
      SOBRE_ASSIGN_OR_RETURN(double kg,
                             ParseBounded("embodied_kgco2e", f[4], 0, kMaxDeviceEmbodiedKg, false));
      g.embodied_kgco2e = kg;
    }
    SOBRE_RETURN_IF_ERROR(RequireText("source", f[5]));
    g.source = std::string(Trim(f[5]));
    return g;
  }

  static StatusOr<CpuSpec> ParseCpu(const std::vector<std::string>& f) {
    CpuSpec cpu;
    SOBRE_RETURN_IF_ERROR(RequireName("name", f[0]));
    cpu.name = std::string(Trim(f[0]));
    SOBRE_ASSIGN_OR_RETURN(cpu.tdp_w, ParseBounded("tdp_w", f[1], 0, kMaxTdpW, true));
    SOBRE_ASSIGN_OR_RETURN(cpu.cores, ParseCount("cores", f[2]));
    SOBRE_ASSIGN_OR_RETURN(cpu.threads, ParseCount("threads", f[3]));
    if (cpu.cores > 0 && cpu.threads > 0 && cpu.threads < cpu.cores) {
      return InvalidArgumentError("column threads: " + std::to_string(cpu.threads) +
                                  " is fewer than the " + std::to_string(cpu.cores) + " cores");
    }
    SOBRE_RETURN_IF_ERROR(RequireText("source", f[4]));
    cpu.source = std::string(Trim(f[4]));
    return cpu;
  }

  static StatusOr<ServerSpec> ParseServer(const std::vector<std::string>& f) {
    ServerSpec s;
    SOBRE_RETURN_IF_ERROR(RequireName("name", f[0]));
    s.name = std::string(Trim(f[0]));
    SOBRE_ASSIGN_OR_RETURN(s.embodied_kgco2e,
                           ParseBounded("embodied_kgco2e", f[1], 0, kMaxServerEmbodiedKg, true));
    SOBRE_ASSIGN_OR_RETURN(s.lifetime_hours,
                           ParseBounded("lifetime_hours", f[2], 0, kMaxLifetimeHours, true));
    SOBRE_RETURN_IF_ERROR(RequireText("source", f[3]));
    s.source = std::string(Trim(f[3]));
    return s;
  }
};

const HardwareCatalogue& HardwareCatalogue::Builtin() {
  static const HardwareCatalogue* const catalogue = [] {
    auto* c = new HardwareCatalogue();
    Status s = HardwareCatalogueLoader::LoadBuiltin(*c);
    if (!s.ok()) {
      // The shipped files are compiled in and tested; a failure here is a build defect.
      std::fprintf(stderr, "sobre: corrupt builtin hardware catalogue: %s\n", s.ToString().c_str());
      std::abort();
    }
    return c;
  }();
  return *catalogue;
}

StatusOr<HardwareCatalogue> HardwareCatalogue::WithOverrides(const std::string& path) {
  StatusOr<std::string> text = ReadFile(path, kMaxOverrideFileBytes);
  if (!text.ok()) return text.status().WithContext("reading hardware overrides");
  HardwareCatalogue catalogue = Builtin();
  SOBRE_RETURN_IF_ERROR(HardwareCatalogueLoader::ApplyOverrides(catalogue, *text, path));
  return catalogue;
}

StatusOr<const GpuSpec*> HardwareCatalogue::FindGpu(std::string_view name) const {
  if (const GpuSpec* g = FindByKey(gpus_, name)) return g;
  return UnknownName(gpus_, "GPU", name);
}

StatusOr<const CpuSpec*> HardwareCatalogue::FindCpu(std::string_view name) const {
  if (const CpuSpec* c = FindByKey(cpus_, name)) return c;
  return UnknownName(cpus_, "CPU", name);
}

StatusOr<const ServerSpec*> HardwareCatalogue::FindServer(std::string_view name) const {
  if (const ServerSpec* s = FindByKey(servers_, name)) return s;
  return UnknownName(servers_, "server", name);
}

namespace {

// The model name reduced to lower-case letters and digits, with the offsets at which each of its
// words starts and ends, so that "6248" can match "Gold 6248" but not "Gold 6248R".
struct Words {
  std::string text;
  std::vector<bool> boundary;  // boundary[i]: a word starts or ends at offset i; size text+1.
};

Words ToWords(std::string_view s) {
  Words w;
  bool in_word = false;
  std::vector<size_t> edges;
  for (char c : s) {
    bool alnum = std::isalnum(static_cast<unsigned char>(c)) != 0;
    if (alnum && !in_word) edges.push_back(w.text.size());
    if (!alnum && in_word) edges.push_back(w.text.size());
    if (alnum) w.text.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    in_word = alnum;
  }
  edges.push_back(w.text.size());
  w.boundary.assign(w.text.size() + 1, false);
  for (size_t e : edges) w.boundary[e] = true;
  return w;
}

// Drops what /proc/cpuinfo adds around the model: trademark marks, "CPU", the clock after '@',
// and AMD's "64-Core Processor" suffix.
std::string CleanModelName(std::string_view model) {
  std::string s(model);
  size_t at = s.find('@');
  if (at != std::string::npos) s.erase(at);
  for (std::string_view mark : {"(R)", "(r)", "(TM)", "(tm)", "\xC2\xAE", "\xE2\x84\xA2"}) {
    for (size_t p = s.find(mark); p != std::string::npos; p = s.find(mark, p)) {
      s.replace(p, mark.size(), " ");
    }
  }
  // Word-level removals.
  std::vector<std::string_view> kept;
  std::vector<std::string_view> words;
  for (std::string_view w : Split(s, ' ')) {
    if (!Trim(w).empty()) words.push_back(Trim(w));
  }
  for (size_t i = 0; i < words.size(); ++i) {
    std::string lw = ToLower(words[i]);
    if (lw == "cpu" || lw == "processor") continue;
    // "64-Core" right before "Processor".
    if (lw.size() > 5 && lw.compare(lw.size() - 5, 5, "-core") == 0 && i + 1 < words.size() &&
        ToLower(words[i + 1]) == "processor") {
      continue;
    }
    kept.push_back(words[i]);
  }
  std::string out;
  for (std::string_view w : kept) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

// True if `key` occurs in `w` starting and ending on word boundaries.
bool ContainsOnWords(const Words& w, const std::string& key) {
  if (key.empty()) return false;
  for (size_t p = w.text.find(key); p != std::string::npos; p = w.text.find(key, p + 1)) {
    if (w.boundary[p] && w.boundary[p + key.size()]) return true;
  }
  return false;
}

}  // namespace

const CpuSpec* HardwareCatalogue::MatchCpuModelName(std::string_view model_name) const {
  Words words = ToWords(CleanModelName(model_name));
  if (words.text.empty()) return nullptr;
  const CpuSpec* best = nullptr;
  size_t best_len = 0;
  bool tie = false;
  for (const CpuSpec& cpu : cpus_) {
    // The full name ("amdepyc7763") or, for strings without the vendor, the vendor-less key.
    // Rows are cleaned like the model string, so a row named "... CPU" can still match.
    size_t len = 0;
    std::string cleaned = CleanModelName(cpu.name);
    std::string full = NormalizeName(cleaned);
    std::string bare = MatchKey(cleaned);
    if (ContainsOnWords(words, full)) {
      len = full.size();
    } else if (ContainsOnWords(words, bare)) {
      len = bare.size();
    }
    if (len == 0) continue;
    if (len > best_len) {
      best = &cpu;
      best_len = len;
      tie = false;
    } else if (len == best_len) {
      tie = true;
    }
  }
  return tie ? nullptr : best;
}

}  // namespace sobre::footprint
