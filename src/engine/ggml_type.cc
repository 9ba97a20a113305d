#include "engine/ggml_type.h"

#include <cctype>

namespace sobre::engine {

std::optional<GgmlType> ParseGgmlType(std::string_view name) {
  for (const GgmlTypeTraits& t : kGgmlTypes) {
    if (t.name.size() != name.size() || !t.storable) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i) {
      same = std::toupper(static_cast<unsigned char>(name[i])) ==
             std::toupper(static_cast<unsigned char>(t.name[i]));
    }
    if (same) return t.type;
  }
  return std::nullopt;
}

}  // namespace sobre::engine
