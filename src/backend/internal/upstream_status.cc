#include "backend/internal/upstream_status.h"

#include <cmath>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "core/strings.h"

namespace sobre::backend::internal {
namespace {

namespace json = boost::json;

constexpr size_t kMaxRawMessageBytes = 512;

std::string JsonScalarToString(const json::value& v) {
  if (const json::string* s = v.if_string()) return std::string(s->data(), s->size());
  if (v.is_int64()) return std::to_string(v.get_int64());
  if (v.is_uint64()) return std::to_string(v.get_uint64());
  return "";
}

std::optional<std::chrono::milliseconds> SecondsToMs(std::string_view value, double scale) {
  StatusOr<double> parsed = ParseDouble(value);
  if (!parsed.ok() || *parsed < 0 || *parsed > 1e9) return std::nullopt;
  return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(*parsed * scale)));
}

}  // namespace

UpstreamError ParseUpstreamError(int http_status, std::string_view body) {
  UpstreamError out;
  boost::system::error_code ec;
  json::value doc = json::parse(json::string_view(body.data(), body.size()), ec);
  if (!ec) {
    const json::object* obj = doc.if_object();
    const json::value* error = obj != nullptr ? obj->if_contains("error") : nullptr;
    if (error != nullptr && error->is_object()) {
      const json::object& e = error->get_object();
      if (const json::value* m = e.if_contains("message")) out.message = JsonScalarToString(*m);
      if (const json::value* t = e.if_contains("type")) out.type = JsonScalarToString(*t);
      if (const json::value* c = e.if_contains("code")) out.code = JsonScalarToString(*c);
    } else if (error != nullptr && error->is_string()) {
      // Some servers (older llama.cpp, text-generation-inference) send {"error": "text"}.
      out.message = JsonScalarToString(*error);
    } else if (obj != nullptr) {
      // FastAPI-style {"detail": "..."} or {"message": "..."}.
      for (const char* key : {"message", "detail"}) {
        if (const json::value* m = obj->if_contains(key); m && m->is_string()) {
          out.message = JsonScalarToString(*m);
          break;
        }
      }
    }
  }
  if (out.message.empty()) {
    std::string_view raw = Trim(body);
    if (raw.size() > kMaxRawMessageBytes) raw = raw.substr(0, kMaxRawMessageBytes);
    out.message = raw.empty() ? "HTTP " + std::to_string(http_status) : std::string(raw);
  }
  return out;
}

Status StatusFromUpstream(int http_status, const UpstreamError& error) {
  std::string prefixed = "upstream returned " + std::to_string(http_status) + ": " + error.message;
  switch (http_status) {
    case 401:
    case 403: return FailedPreconditionError(std::move(prefixed));
    case 404: return NotFoundError(error.message);
    case 408: return UnavailableError(std::move(prefixed));
    case 429: return ResourceExhaustedError(std::move(prefixed));
    default: break;
  }
  if (http_status >= 400 && http_status < 500) return InvalidArgumentError(error.message);
  return UnavailableError(std::move(prefixed));
}

bool IsRetryableHttpStatus(int http_status, const UpstreamError& error) {
  if (http_status == 429) {
    return error.code != "insufficient_quota" && error.type != "insufficient_quota";
  }
  return http_status == 408 || (http_status >= 500 && http_status < 600);
}

std::optional<std::chrono::milliseconds> ParseRetryAfterSeconds(std::string_view value) {
  return SecondsToMs(value, 1000.0);
}

std::optional<std::chrono::milliseconds> ParseRetryAfterMs(std::string_view value) {
  return SecondsToMs(value, 1.0);
}

}  // namespace sobre::backend::internal
