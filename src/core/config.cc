#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include "core/file.h"
#include "core/strings.h"

namespace sobre {
namespace {

Status Flatten(const YAML::Node& node, const std::string& prefix, const std::string& source,
               std::map<std::string, std::pair<std::string, int>>& out) {
  int line = node.Mark().line + 1;
  switch (node.Type()) {
    case YAML::NodeType::Map:
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return InvalidArgumentError(source + ":" + std::to_string(kv.first.Mark().line + 1) +
                                      ": keys must be plain names");
        }
        std::string key = prefix.empty() ? kv.first.Scalar() : prefix + "." + kv.first.Scalar();
        SOBRE_RETURN_IF_ERROR(Flatten(kv.second, key, source, out));
      }
      return OkStatus();
    case YAML::NodeType::Sequence: {
      std::vector<std::string> items;
      for (const auto& item : node) {
        if (!item.IsScalar()) {
          return InvalidArgumentError(source + ":" + std::to_string(item.Mark().line + 1) + ": " +
                                      prefix + ": lists may hold only plain values");
        }
        items.push_back(item.Scalar());
      }
      out[prefix] = {Join(items, ","), line};
      return OkStatus();
    }
    case YAML::NodeType::Scalar:
      out[prefix] = {node.Scalar(), line};
      return OkStatus();
    case YAML::NodeType::Null:
      out[prefix] = {"", line};
      return OkStatus();
    case YAML::NodeType::Undefined:
      break;
  }
  return InvalidArgumentError(source + ":" + std::to_string(line) + ": unreadable value");
}

}  // namespace

StatusOr<Config> Config::Parse(std::string_view yaml_text, std::string source_name) {
  Config config;
  config.source_ = std::move(source_name);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(config.source_ + ":" + std::to_string(e.mark.line + 1) + ": " +
                                e.msg);
  }
  if (root.IsNull()) return config;  // An empty file is a valid, empty config.
  if (!root.IsMap()) {
    return InvalidArgumentError(config.source_ + ":" + std::to_string(root.Mark().line + 1) +
                                ": the top level must be a mapping of settings");
  }
  std::map<std::string, std::pair<std::string, int>> flat;
  SOBRE_RETURN_IF_ERROR(Flatten(root, "", config.source_, flat));
  for (auto& [key, entry] : flat) config.values_[key] = Entry{entry.first, entry.second};
  return config;
}

StatusOr<Config> Config::LoadFile(const std::string& path) {
  SOBRE_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 4u << 20));
  return Parse(text, path);
}

std::optional<std::string> Config::GetString(std::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second.value;
}

StatusOr<std::optional<double>> Config::GetDouble(std::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::optional<double>();
  StatusOr<double> v = ParseDouble(it->second.value);
  if (!v.ok()) return v.status().WithContext(Where(key) + ": " + std::string(key));
  return std::optional<double>(*v);
}

StatusOr<std::optional<bool>> Config::GetBool(std::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::optional<bool>();
  std::string v = ToLower(it->second.value);
  if (v == "true" || v == "yes" || v == "on") return std::optional<bool>(true);
  if (v == "false" || v == "no" || v == "off") return std::optional<bool>(false);
  return InvalidArgumentError(Where(key) + ": " + std::string(key) + ": expected true or false, got '" +
                              it->second.value + "'");
}

Status Config::CheckKnownKeys(const std::vector<std::string>& known) const {
  for (const auto& [key, entry] : values_) {
    bool found = false;
    for (const std::string& k : known) found = found || k == key;
    if (!found) {
      std::vector<std::string> near = ClosestNames(key, known, 3);
      return InvalidArgumentError(source_ + ":" + std::to_string(entry.line) + ": unknown setting '" +
                                  key + "' (did you mean: " + Join(near, ", ") + "?)");
    }
  }
  return OkStatus();
}

std::string Config::Where(std::string_view key) const {
  auto it = values_.find(key);
  return source_ + ":" + (it == values_.end() ? std::string("?") : std::to_string(it->second.line));
}

}  // namespace sobre
