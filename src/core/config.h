// Config: a YAML file read into dotted keys ("footprint.pue") that remember their line, so that
// every error names the file and the line. Keeps yaml-cpp out of every other header.
#ifndef SOBRE_CORE_CONFIG_H_
#define SOBRE_CORE_CONFIG_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sobre {

// An immutable set of scalar settings. Thread-safe after construction.
class Config {
 public:
  // Parses YAML text. Nested mappings become dotted keys; sequences of scalars become
  // comma-separated values. `source_name` prefixes every error ("sobre.yaml:4: ...").
  static StatusOr<Config> Parse(std::string_view yaml_text, std::string source_name);
  static StatusOr<Config> LoadFile(const std::string& path);

  bool Has(std::string_view key) const { return values_.count(std::string(key)) > 0; }
  std::optional<std::string> GetString(std::string_view key) const;
  // Absent keys give nullopt; present keys that are not numbers give an error naming file:line.
  StatusOr<std::optional<double>> GetDouble(std::string_view key) const;
  StatusOr<std::optional<bool>> GetBool(std::string_view key) const;

  // Fails, naming the first offending key and its line, if any key is not in `known` (catches
  // typos such as "footprint.peu" that would otherwise be silently ignored).
  Status CheckKnownKeys(const std::vector<std::string>& known) const;

  // "file:line" of `key`, for callers that validate values themselves.
  std::string Where(std::string_view key) const;

 private:
  struct Entry {
    std::string value;
    int line = 0;
  };
  std::string source_;
  std::map<std::string, Entry, std::less<>> values_;
};

}  // namespace sobre

#endif  // SOBRE_CORE_CONFIG_H_
