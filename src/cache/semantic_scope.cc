#include "cache/semantic_scope.h"

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>
#include <fmt/core.h>
#include <openssl/evp.h>

#include "cache/cache_key.h"  // CanonicalJson, shared with the exact cache.

namespace sobre::cache {
namespace {

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

// True when `content` (a message's "content") holds only text; appends that text to `text`.
bool TextOnly(const boost::json::value& content, std::string* text) {
  if (content.is_null()) return true;
  if (content.is_string()) {
    if (text != nullptr) *text = std::string(content.as_string());
    return true;
  }
  if (!content.is_array()) return false;
  std::string joined;
  for (const boost::json::value& part : content.as_array()) {
    if (part.is_string()) {  // Not in the spec, but harmless: a bare string part is text.
      if (!joined.empty()) joined.push_back('\n');
      joined += std::string(part.as_string());
      continue;
    }
    if (!part.is_object()) return false;
    const boost::json::value* type = part.as_object().if_contains("type");
    const boost::json::value* part_text = part.as_object().if_contains("text");
    if (type == nullptr || !type->is_string() || type->as_string() != "text" ||
        part_text == nullptr || !part_text->is_string()) {
      return false;
    }
    if (!joined.empty()) joined.push_back('\n');
    joined += std::string(part_text->as_string());
  }
  if (text != nullptr) *text = std::move(joined);
  return true;
}

}  // namespace

std::optional<SemanticQuery> ExtractSemanticQuery(const boost::json::object& body) {
  for (std::string_view key : {"tools", "tool_choice", "functions", "function_call"}) {
    const boost::json::value* v = body.if_contains(key);
    if (v != nullptr && !v->is_null()) return std::nullopt;
  }
  if (const boost::json::value* n = body.if_contains("n"); n != nullptr && !n->is_null()) {
    if (!n->is_number()) return std::nullopt;
    if (n->is_double() ? n->get_double() != 1.0 : n->to_number<int64_t>() != 1) {
      return std::nullopt;
    }
  }
  const boost::json::value* messages_value = body.if_contains("messages");
  if (messages_value == nullptr || !messages_value->is_array()) return std::nullopt;
  const boost::json::array& messages = messages_value->as_array();

  std::optional<size_t> last_user;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (!messages[i].is_object()) return std::nullopt;
    const boost::json::object& message = messages[i].as_object();
    if (const boost::json::value* content = message.if_contains("content");
        content != nullptr && !TextOnly(*content, nullptr)) {
      return std::nullopt;
    }
    const boost::json::value* role = message.if_contains("role");
    if (role != nullptr && role->is_string() && role->as_string() == "user") last_user = i;
  }
  if (!last_user) return std::nullopt;

  SemanticQuery query;
  const boost::json::value* content = messages[*last_user].as_object().if_contains("content");
  if (content == nullptr || !TextOnly(*content, &query.last_user_text) ||
      query.last_user_text.find_first_not_of(" \t\r\n") == std::string::npos) {
    return std::nullopt;
  }

  boost::json::array before;
  boost::json::array after;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i < *last_user) before.push_back(messages[i]);
    if (i > *last_user) after.push_back(messages[i]);
  }
  boost::json::object context;
  context["before"] = std::move(before);
  context["after"] = std::move(after);
  // Other parts of the last user message than its text (a "name") change the answer too.
  boost::json::object user = messages[*last_user].as_object();
  user.erase("content");
  context["user"] = std::move(user);
  for (std::string_view key : {"response_format", "tools"}) {
    const boost::json::value* v = body.if_contains(key);
    context[key] = v != nullptr ? *v : boost::json::value(nullptr);
  }
  query.context_hash = Sha256Hex(CanonicalJson(context));
  return query;
}

std::string SemanticScope(std::string_view tenant, std::string_view model,
                          std::string_view context_hash) {
  return fmt::format("{}:{}{}:{}{}", tenant.size(), tenant, model.size(), model, context_hash);
}

}  // namespace sobre::cache
