// Request validation. Messages follow the wording of OpenAI's own 400s ("Invalid type for
// 'temperature': expected a number, but got a string instead.") so that clients that surface
// them read the same; parameters use OpenAI's notation for nested fields ("messages.[0].role").
#include "gateway/openai_validate.h"

#include <cmath>
#include <limits>

#include <boost/json/parse.hpp>
#include <fmt/format.h>

namespace sobre::gateway {
namespace {

namespace json = boost::json;

// Tokens charged per image part before the backend counts: a 1024x1024 high-detail image.
constexpr int64_t kImagePartTokens = 765;
// Tokens of each message's framing (role, separators), and of the reply's priming.
constexpr int64_t kTokensPerMessage = 4;
constexpr int64_t kTokensPerReply = 3;
// OpenAI's limits.
constexpr int64_t kMaxChoices = 128;
constexpr int64_t kMaxStopSequences = 4;
constexpr int64_t kMaxTopLogprobs = 20;
constexpr int64_t kMaxEmbeddingInputs = 2048;
// Legacy completions generate 16 tokens when max_tokens is absent.
constexpr int64_t kCompletionsDefaultMaxTokens = 16;

ApiError Invalid(std::string message, std::string param) {
  return ApiError{ApiErrorKind::kInvalidRequest, std::move(message), std::move(param)};
}

std::string_view KindName(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64: return "an integer";
    case json::kind::double_: return "a decimal";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
  }
  return "a value";
}

ApiError WrongType(std::string_view param, std::string_view expected, const json::value& got) {
  return Invalid(fmt::format("Invalid type for '{}': expected {}, but got {} instead.", param,
                             expected, KindName(got)),
                 std::string(param));
}

std::optional<double> AsNumber(const json::value& v) {
  switch (v.kind()) {
    case json::kind::int64: return static_cast<double>(v.get_int64());
    case json::kind::uint64: return static_cast<double>(v.get_uint64());
    case json::kind::double_: return v.get_double();
    default: return std::nullopt;
  }
}

// Integers, accepting integral decimals (2.0) as JavaScript and Python clients may send them.
std::optional<int64_t> AsInteger(const json::value& v) {
  switch (v.kind()) {
    case json::kind::int64: return v.get_int64();
    case json::kind::uint64:
      if (v.get_uint64() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return std::numeric_limits<int64_t>::max();
      }
      return static_cast<int64_t>(v.get_uint64());
    case json::kind::double_: {
      const double d = v.get_double();
      if (std::trunc(d) != d || std::fabs(d) > 9.0e15) return std::nullopt;
      return static_cast<int64_t>(d);
    }
    default: return std::nullopt;
  }
}

// Field lookup: nullptr when absent or null (OpenAI treats an explicit null as "not given").
const json::value* Field(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return (v == nullptr || v->is_null()) ? nullptr : v;
}

std::optional<ApiError> CheckNumber(const json::object& body, std::string_view name, double min,
                                    double max) {
  const json::value* v = Field(body, name);
  if (v == nullptr) return std::nullopt;
  const std::optional<double> d = AsNumber(*v);
  if (!d.has_value()) return WrongType(name, "a number", *v);
  if (*d < min) {
    return Invalid(fmt::format("Invalid '{}': decimal below minimum value. Expected a value >= "
                               "{}, but got {} instead.",
                               name, min, *d),
                   std::string(name));
  }
  if (*d > max) {
    return Invalid(fmt::format("Invalid '{}': decimal above maximum value. Expected a value <= "
                               "{}, but got {} instead.",
                               name, max, *d),
                   std::string(name));
  }
  return std::nullopt;
}

// An integer field in [min, max]; `out` is set when present.
std::optional<ApiError> CheckInteger(const json::object& body, std::string_view name, int64_t min,
                                     int64_t max, std::optional<int64_t>* out = nullptr) {
  const json::value* v = Field(body, name);
  if (v == nullptr) return std::nullopt;
  const std::optional<int64_t> i = AsInteger(*v);
  if (!i.has_value()) return WrongType(name, "an integer", *v);
  if (*i < min) {
    return Invalid(fmt::format("Invalid '{}': integer below minimum value. Expected a value >= "
                               "{}, but got {} instead.",
                               name, min, *i),
                   std::string(name));
  }
  if (*i > max) {
    return Invalid(fmt::format("Invalid '{}': integer above maximum value. Expected a value <= "
                               "{}, but got {} instead.",
                               name, max, *i),
                   std::string(name));
  }
  if (out != nullptr) *out = *i;
  return std::nullopt;
}

std::optional<ApiError> CheckKind(const json::object& body, std::string_view name,
                                  json::kind kind, std::string_view expected) {
  const json::value* v = Field(body, name);
  if (v == nullptr || v->kind() == kind) return std::nullopt;
  return WrongType(name, expected, *v);
}

std::optional<ApiError> CheckBool(const json::object& body, std::string_view name, bool* out) {
  const json::value* v = Field(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_bool()) return WrongType(name, "a boolean", *v);
  if (out != nullptr) *out = v->get_bool();
  return std::nullopt;
}

#define SOBRE_RETURN_IF_API_ERROR(expr)           \
  do {                                            \
    std::optional<ApiError> sobre_api_error_ = (expr); \
    if (sobre_api_error_.has_value()) return sobre_api_error_; \
  } while (0)

std::optional<ApiError> CheckModel(const json::object& body, RequestInfo& info) {
  const json::value* v = Field(body, "model");
  if (v == nullptr) {
    return Invalid("you must provide a model parameter", "model");
  }
  if (!v->is_string()) return WrongType("model", "a string", *v);
  if (v->get_string().empty()) return Invalid("you must provide a model parameter", "model");
  info.model = v->get_string();
  return std::nullopt;
}

std::optional<ApiError> CheckStream(const json::object& body, RequestInfo& info) {
  SOBRE_RETURN_IF_API_ERROR(CheckBool(body, "stream", &info.stream));
  const json::value* options = Field(body, "stream_options");
  if (options == nullptr) return std::nullopt;
  if (!options->is_object()) return WrongType("stream_options", "an object", *options);
  if (!info.stream) {
    return Invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                   "stream_options");
  }
  const json::value* include = Field(options->get_object(), "include_usage");
  if (include != nullptr) {
    if (!include->is_bool()) {
      return WrongType("stream_options.include_usage", "a boolean", *include);
    }
    info.include_usage = include->get_bool();
  }
  return std::nullopt;
}

std::optional<ApiError> CheckStop(const json::object& body) {
  const json::value* v = Field(body, "stop");
  if (v == nullptr || v->is_string()) return std::nullopt;
  if (!v->is_array()) return WrongType("stop", "a string or an array of strings", *v);
  const json::array& a = v->get_array();
  if (static_cast<int64_t>(a.size()) > kMaxStopSequences) {
    return Invalid(fmt::format("Invalid 'stop': array too long. Expected an array with maximum "
                               "length {}, but got an array with length {} instead.",
                               kMaxStopSequences, a.size()),
                   "stop");
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_string()) return WrongType(fmt::format("stop.[{}]", i), "a string", a[i]);
  }
  return std::nullopt;
}

std::optional<ApiError> CheckMaxTokens(const json::object& body, RequestInfo& info) {
  std::optional<int64_t> max_tokens;
  std::optional<int64_t> max_completion_tokens;
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  SOBRE_RETURN_IF_API_ERROR(CheckInteger(body, "max_tokens", 1, kMax, &max_tokens));
  SOBRE_RETURN_IF_API_ERROR(
      CheckInteger(body, "max_completion_tokens", 1, kMax, &max_completion_tokens));
  info.max_output_tokens = max_completion_tokens.has_value() ? max_completion_tokens : max_tokens;
  return std::nullopt;
}

// Sampling and output parameters shared by chat and legacy completions.
std::optional<ApiError> CheckSampling(const json::object& body, RequestInfo& info) {
  SOBRE_RETURN_IF_API_ERROR(CheckNumber(body, "temperature", 0, 2));
  SOBRE_RETURN_IF_API_ERROR(CheckNumber(body, "top_p", 0, 1));
  SOBRE_RETURN_IF_API_ERROR(CheckNumber(body, "frequency_penalty", -2, 2));
  SOBRE_RETURN_IF_API_ERROR(CheckNumber(body, "presence_penalty", -2, 2));
  std::optional<int64_t> n;
  SOBRE_RETURN_IF_API_ERROR(CheckInteger(body, "n", 1, kMaxChoices, &n));
  info.choices = n.value_or(1);
  SOBRE_RETURN_IF_API_ERROR(CheckInteger(body, "seed", std::numeric_limits<int64_t>::min(),
                                         std::numeric_limits<int64_t>::max()));
  SOBRE_RETURN_IF_API_ERROR(CheckStop(body));
  SOBRE_RETURN_IF_API_ERROR(CheckMaxTokens(body, info));
  SOBRE_RETURN_IF_API_ERROR(CheckKind(body, "user", json::kind::string, "a string"));
  SOBRE_RETURN_IF_API_ERROR(CheckStream(body, info));
  if (const json::value* bias = Field(body, "logit_bias")) {
    if (!bias->is_object()) return WrongType("logit_bias", "an object", *bias);
    for (const auto& entry : bias->get_object()) {
      const std::optional<double> d = AsNumber(entry.value());
      if (!d.has_value() || *d < -100 || *d > 100) {
        return Invalid(fmt::format("Invalid 'logit_bias': the bias of token {} must be a number "
                                   "between -100 and 100.",
                                   std::string_view(entry.key())),
                       "logit_bias");
      }
    }
  }
  return std::nullopt;
}

// Adds the tokens of message content (a string or an array of parts) to `tokens`.
std::optional<ApiError> CheckContent(const json::value& content, std::string_view param,
                                     int64_t& tokens) {
  if (content.is_string()) {
    tokens += EstimateTextTokens(content.get_string());
    return std::nullopt;
  }
  if (!content.is_array()) return WrongType(param, "a string or an array of content parts", content);
  const json::array& parts = content.get_array();
  for (size_t i = 0; i < parts.size(); ++i) {
    const json::value& part = parts[i];
    if (!part.is_object()) {
      return WrongType(fmt::format("{}.[{}]", param, i), "an object", part);
    }
    const json::object& p = part.get_object();
    const json::value* type = Field(p, "type");
    if (type == nullptr) {
      return Invalid(fmt::format("Missing required parameter: '{}.[{}].type'.", param, i),
                     fmt::format("{}.[{}].type", param, i));
    }
    if (!type->is_string()) {
      return WrongType(fmt::format("{}.[{}].type", param, i), "a string", *type);
    }
    const std::string_view t = type->get_string();
    if (t == "text" || t == "refusal") {
      const json::value* text = Field(p, t);
      if (text == nullptr || !text->is_string()) {
        return Invalid(fmt::format("Missing required parameter: '{}.[{}].{}'.", param, i, t),
                       fmt::format("{}.[{}].{}", param, i, t));
      }
      tokens += EstimateTextTokens(text->get_string());
    } else if (t == "image_url") {
      tokens += kImagePartTokens;
    } else {
      // Audio, files and upstream-specific parts: charge their JSON as text.
      tokens += EstimateJsonTokens(part);
    }
  }
  return std::nullopt;
}

// "messages.[i]" plus a suffix, built on demand.
struct MessageParam {
  size_t i;
  operator std::string() const { return fmt::format("messages.[{}]", i); }  // NOLINT: implicit.
  friend std::string operator+(const MessageParam& p, std::string_view suffix) {
    return fmt::format("messages.[{}]{}", p.i, suffix);
  }
};

}  // namespace
}  // namespace sobre::gateway

template <>
struct fmt::formatter<sobre::gateway::MessageParam> : fmt::formatter<std::string_view> {
  auto format(const sobre::gateway::MessageParam& p, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "messages.[{}]", p.i);
  }
};

namespace sobre::gateway {
namespace {

std::optional<ApiError> CheckMessages(const json::object& body, int64_t& tokens) {
  const json::value* v = Field(body, "messages");
  if (v == nullptr) return Invalid("Missing required parameter: 'messages'.", "messages");
  if (!v->is_array()) return WrongType("messages", "an array", *v);
  const json::array& messages = v->get_array();
  if (messages.empty()) {
    return Invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, "
                   "but got an empty array instead.",
                   "messages");
  }
  tokens += kTokensPerReply;
  for (size_t i = 0; i < messages.size(); ++i) {
    // Parameter names are built only for errors: valid requests allocate nothing here.
    const MessageParam at{i};
    if (!messages[i].is_object()) return WrongType(std::string(at), "an object", messages[i]);
    const json::object& m = messages[i].get_object();
    tokens += kTokensPerMessage;
    const json::value* role = Field(m, "role");
    if (role == nullptr) {
      return Invalid(fmt::format("Missing required parameter: '{}.role'.", at), at + ".role");
    }
    if (!role->is_string()) return WrongType(at + ".role", "a string", *role);
    const std::string_view r = role->get_string();
    const bool known = r == "system" || r == "developer" || r == "user" || r == "assistant" ||
                       r == "tool" || r == "function";
    if (!known) {
      return Invalid(fmt::format("Invalid value: '{}'. Supported values are: 'system', "
                                 "'assistant', 'user', 'function', 'tool', and 'developer'.",
                                 r),
                     at + ".role");
    }
    if (const json::value* name = Field(m, "name"); name != nullptr) {
      if (!name->is_string()) return WrongType(at + ".name", "a string", *name);
      tokens += EstimateTextTokens(name->get_string());
    }
    const json::value* content = Field(m, "content");
    const json::value* tool_calls = Field(m, "tool_calls");
    const json::value* function_call = Field(m, "function_call");
    // An assistant message may carry tool calls instead of content; every other role needs it.
    const bool content_optional =
        r == "assistant" && (tool_calls != nullptr || function_call != nullptr ||
                             Field(m, "refusal") != nullptr || Field(m, "audio") != nullptr);
    if (content == nullptr) {
      if (!content_optional && r != "function") {
        return Invalid(fmt::format("Missing required parameter: '{}.content'.", at),
                       at + ".content");
      }
    } else {
      if (content->is_string()) {
        tokens += EstimateTextTokens(content->get_string());
      } else {
        SOBRE_RETURN_IF_API_ERROR(CheckContent(*content, at + ".content", tokens));
      }
    }
    if (tool_calls != nullptr) {
      if (!tool_calls->is_array()) return WrongType(at + ".tool_calls", "an array", *tool_calls);
      tokens += EstimateJsonTokens(*tool_calls);
    }
    if (function_call != nullptr) tokens += EstimateJsonTokens(*function_call);
    if (r == "tool") {
      const json::value* id = Field(m, "tool_call_id");
      if (id == nullptr) {
        return Invalid(fmt::format("Missing required parameter: '{}.tool_call_id'.", at),
                       at + ".tool_call_id");
      }
      if (!id->is_string()) return WrongType(at + ".tool_call_id", "a string", *id);
    }
  }
  return std::nullopt;
}

std::optional<ApiError> CheckTools(const json::object& body, int64_t& tokens) {
  if (const json::value* tools = Field(body, "tools")) {
    if (!tools->is_array()) return WrongType("tools", "an array", *tools);
    const json::array& a = tools->get_array();
    for (size_t i = 0; i < a.size(); ++i) {
      const std::string at = fmt::format("tools.[{}]", i);
      if (!a[i].is_object()) return WrongType(at, "an object", a[i]);
      const json::value* type = Field(a[i].get_object(), "type");
      if (type == nullptr) {
        return Invalid(fmt::format("Missing required parameter: '{}.type'.", at), at + ".type");
      }
      if (!type->is_string()) return WrongType(at + ".type", "a string", *type);
      if (type->get_string() == "function") {
        const json::value* function = Field(a[i].get_object(), "function");
        if (function == nullptr || !function->is_object()) {
          return Invalid(fmt::format("Missing required parameter: '{}.function'.", at),
                         at + ".function");
        }
        const json::value* name = Field(function->get_object(), "name");
        if (name == nullptr || !name->is_string()) {
          return Invalid(fmt::format("Missing required parameter: '{}.function.name'.", at),
                         at + ".function.name");
        }
      }
    }
    tokens += EstimateJsonTokens(*tools);
  }
  if (const json::value* choice = Field(body, "tool_choice")) {
    if (!choice->is_string() && !choice->is_object()) {
      return WrongType("tool_choice", "a string or an object", *choice);
    }
  }
  SOBRE_RETURN_IF_API_ERROR(CheckBool(body, "parallel_tool_calls", nullptr));
  return std::nullopt;
}

std::optional<ApiError> CheckResponseFormat(const json::object& body, int64_t& tokens) {
  const json::value* v = Field(body, "response_format");
  if (v == nullptr) return std::nullopt;
  if (!v->is_object()) return WrongType("response_format", "an object", *v);
  const json::object& f = v->get_object();
  const json::value* type = Field(f, "type");
  if (type == nullptr) {
    return Invalid("Missing required parameter: 'response_format.type'.", "response_format.type");
  }
  if (!type->is_string()) return WrongType("response_format.type", "a string", *type);
  // Other types (upstream extensions such as vLLM's structural_tag) pass through.
  if (type->get_string() == "json_schema") {
    const json::value* schema = Field(f, "json_schema");
    if (schema == nullptr) {
      return Invalid("Missing required parameter: 'response_format.json_schema'.",
                     "response_format.json_schema");
    }
    if (!schema->is_object()) {
      return WrongType("response_format.json_schema", "an object", *schema);
    }
    const json::value* name = Field(schema->get_object(), "name");
    if (name == nullptr) {
      return Invalid("Missing required parameter: 'response_format.json_schema.name'.",
                     "response_format.json_schema.name");
    }
    if (!name->is_string()) {
      return WrongType("response_format.json_schema.name", "a string", *name);
    }
    tokens += EstimateJsonTokens(*schema);
  }
  return std::nullopt;
}

std::optional<ApiError> ValidateChat(const json::object& body, RequestInfo& info) {
  SOBRE_RETURN_IF_API_ERROR(CheckModel(body, info));
  int64_t tokens = 0;
  SOBRE_RETURN_IF_API_ERROR(CheckMessages(body, tokens));
  SOBRE_RETURN_IF_API_ERROR(CheckSampling(body, info));
  bool logprobs = false;
  SOBRE_RETURN_IF_API_ERROR(CheckBool(body, "logprobs", &logprobs));
  std::optional<int64_t> top_logprobs;
  SOBRE_RETURN_IF_API_ERROR(CheckInteger(body, "top_logprobs", 0, kMaxTopLogprobs, &top_logprobs));
  if (top_logprobs.has_value() && !logprobs) {
    return Invalid("Invalid value for 'top_logprobs': 'logprobs' must be set to true when "
                   "'top_logprobs' is used.",
                   "top_logprobs");
  }
  SOBRE_RETURN_IF_API_ERROR(CheckResponseFormat(body, tokens));
  SOBRE_RETURN_IF_API_ERROR(CheckTools(body, tokens));
  SOBRE_RETURN_IF_API_ERROR(CheckKind(body, "metadata", json::kind::object, "an object"));
  info.prompt_tokens_estimate = tokens;
  return std::nullopt;
}

// A prompt or embeddings input: a string, an array of strings, an array of token ids, or an
// array of such arrays.
std::optional<ApiError> CheckTextOrTokens(const json::value& v, std::string_view param,
                                          bool allow_empty, size_t max_items, int64_t& tokens) {
  if (v.is_string()) {
    tokens += EstimateTextTokens(v.get_string());
    return std::nullopt;
  }
  constexpr std::string_view kExpected =
      "a string, an array of strings, an array of integers or an array of integer arrays";
  if (!v.is_array()) return WrongType(param, kExpected, v);
  const json::array& a = v.get_array();
  if (a.empty() && !allow_empty) {
    return Invalid(fmt::format("Invalid '{}': empty array. Expected an array with minimum length "
                               "1, but got an empty array instead.",
                               param),
                   std::string(param));
  }
  if (a.size() > max_items) {
    return Invalid(fmt::format("Invalid '{}': array too long. Expected an array with maximum "
                               "length {}, but got an array with length {} instead.",
                               param, max_items, a.size()),
                   std::string(param));
  }
  for (size_t i = 0; i < a.size(); ++i) {
    const json::value& item = a[i];
    if (item.is_string()) {
      tokens += EstimateTextTokens(item.get_string());
    } else if (AsInteger(item).has_value()) {
      tokens += 1;
    } else if (item.is_array()) {
      for (const json::value& id : item.get_array()) {
        if (!AsInteger(id).has_value()) {
          return WrongType(fmt::format("{}.[{}]", param, i), "an array of integers", item);
        }
      }
      tokens += static_cast<int64_t>(item.get_array().size());
    } else {
      return WrongType(fmt::format("{}.[{}]", param, i), "a string, an integer or an array", item);
    }
  }
  return std::nullopt;
}

std::optional<ApiError> ValidateCompletion(const json::object& body, RequestInfo& info) {
  SOBRE_RETURN_IF_API_ERROR(CheckModel(body, info));
  const json::value* prompt = Field(body, "prompt");
  if (prompt == nullptr) return Invalid("Missing required parameter: 'prompt'.", "prompt");
  int64_t tokens = 0;
  SOBRE_RETURN_IF_API_ERROR(CheckTextOrTokens(*prompt, "prompt", /*allow_empty=*/false,
                                              std::numeric_limits<size_t>::max(), tokens));
  SOBRE_RETURN_IF_API_ERROR(CheckSampling(body, info));
  std::optional<int64_t> best_of;
  SOBRE_RETURN_IF_API_ERROR(CheckInteger(body, "best_of", 0, 20, &best_of));
  if (best_of.has_value() && *best_of > info.choices) info.choices = *best_of;
  SOBRE_RETURN_IF_API_ERROR(CheckInteger(body, "logprobs", 0, 5));
  SOBRE_RETURN_IF_API_ERROR(CheckBool(body, "echo", nullptr));
  SOBRE_RETURN_IF_API_ERROR(CheckKind(body, "suffix", json::kind::string, "a string"));
  if (!info.max_output_tokens.has_value()) info.max_output_tokens = kCompletionsDefaultMaxTokens;
  info.prompt_tokens_estimate = tokens;
  return std::nullopt;
}

std::optional<ApiError> ValidateEmbedding(const json::object& body, RequestInfo& info) {
  SOBRE_RETURN_IF_API_ERROR(CheckModel(body, info));
  const json::value* input = Field(body, "input");
  if (input == nullptr) return Invalid("Missing required parameter: 'input'.", "input");
  int64_t tokens = 0;
  SOBRE_RETURN_IF_API_ERROR(CheckTextOrTokens(*input, "input", /*allow_empty=*/false,
                                              kMaxEmbeddingInputs, tokens));
  if (const json::value* format = Field(body, "encoding_format")) {
    if (!format->is_string()) return WrongType("encoding_format", "a string", *format);
    if (format->get_string() != "float" && format->get_string() != "base64") {
      return Invalid(fmt::format("Invalid value: '{}'. Supported values are: 'float' and "
                                 "'base64'.",
                                 std::string_view(format->get_string())),
                     "encoding_format");
    }
  }
  SOBRE_RETURN_IF_API_ERROR(
      CheckInteger(body, "dimensions", 1, std::numeric_limits<int32_t>::max()));
  SOBRE_RETURN_IF_API_ERROR(CheckKind(body, "user", json::kind::string, "a string"));
  if (Field(body, "stream") != nullptr) {
    return Invalid("Unrecognized request argument supplied: stream", "stream");
  }
  info.max_output_tokens = 0;
  info.prompt_tokens_estimate = tokens;
  return std::nullopt;
}

#undef SOBRE_RETURN_IF_API_ERROR

void AddJsonTokens(const json::value& v, int64_t& bytes) {
  switch (v.kind()) {
    case json::kind::string: bytes += static_cast<int64_t>(v.get_string().size()) + 2; break;
    case json::kind::array:
      for (const json::value& item : v.get_array()) AddJsonTokens(item, bytes);
      break;
    case json::kind::object:
      for (const auto& entry : v.get_object()) {
        bytes += static_cast<int64_t>(entry.key().size()) + 3;
        AddJsonTokens(entry.value(), bytes);
      }
      break;
    default: bytes += 4; break;
  }
}

}  // namespace

std::string_view OperationName(Operation op) {
  switch (op) {
    case Operation::kChat: return "chat";
    case Operation::kCompletion: return "text_completion";
    case Operation::kEmbedding: return "embeddings";
  }
  return "chat";
}

std::string_view LedgerEndpoint(Operation op) {
  switch (op) {
    case Operation::kChat: return "chat.completions";
    case Operation::kCompletion: return "completions";
    case Operation::kEmbedding: return "embeddings";
  }
  return "chat.completions";
}

std::optional<ApiError> ParseJsonObject(std::string_view text, boost::json::object& out) {
  boost::json::parse_options options;
  options.max_depth = 64;
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec, {}, options);
  if (ec) {
    return Invalid(fmt::format("We could not parse the JSON body of your request. ({}) The "
                               "OpenAI API expects a JSON payload.",
                               ec.message()),
                   "");
  }
  if (!v.is_object()) {
    return Invalid(fmt::format("Invalid body: expected a JSON object, but got {} instead.",
                               KindName(v)),
                   "");
  }
  out = std::move(v.get_object());
  return std::nullopt;
}

std::optional<ApiError> ValidateRequest(Operation op, const boost::json::object& body,
                                        RequestInfo& info) {
  switch (op) {
    case Operation::kChat: return ValidateChat(body, info);
    case Operation::kCompletion: return ValidateCompletion(body, info);
    case Operation::kEmbedding: return ValidateEmbedding(body, info);
  }
  return Invalid("unknown operation", "");
}

int64_t EstimateTextTokens(std::string_view text) {
  return (static_cast<int64_t>(text.size()) + 2) / 3;
}

int64_t EstimateJsonTokens(const boost::json::value& value) {
  int64_t bytes = 0;
  AddJsonTokens(value, bytes);
  return (bytes + 2) / 3;
}

}  // namespace sobre::gateway
