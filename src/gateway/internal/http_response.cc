// Response heads and chunk frames (RFC 9112 sections 4, 6 and 7.1).
#include "gateway/internal/http_response.h"

#include <cstdio>

#include "core/strings.h"

namespace sobre::gateway::internal {
namespace {

// RFC 9110 "tchar": the characters allowed in a header name.
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool IsValidName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// Obs-text and tabs are allowed in values; what would end the line or the string is not.
bool IsValidValue(std::string_view value) {
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

}  // namespace

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

StatusOr<std::string> FormatResponseHead(int status, const HttpHeaders& headers,
                                         BodyFraming framing, size_t content_length_bytes,
                                         bool* close) {
  if (status < 100 || status > 599) {
    return InvalidArgumentError("HTTP status " + std::to_string(status) + " is not in 100..599");
  }
  std::string head;
  head.reserve(128 + headers.size() * 48);
  head.append("HTTP/1.1 ").append(std::to_string(status)).append(" ").append(ReasonPhrase(status));
  head.append("\r\n");
  for (const auto& [name, value] : headers) {
    if (!IsValidName(name) || !IsValidValue(value)) {
      return InvalidArgumentError("invalid response header '" + name + "'");
    }
    if (EqualsIgnoreCase(name, "connection")) {
      if (EqualsIgnoreCase(value, "close")) *close = true;
      continue;
    }
    if (EqualsIgnoreCase(name, "content-length") || EqualsIgnoreCase(name, "transfer-encoding")) {
      continue;
    }
    head.append(name).append(": ").append(value).append("\r\n");
  }
  switch (framing) {
    case BodyFraming::kContentLength:
      head.append("Content-Length: ").append(std::to_string(content_length_bytes)).append("\r\n");
      break;
    case BodyFraming::kChunked:
      head.append("Transfer-Encoding: chunked\r\n");
      break;
    case BodyFraming::kUntilClose:
      *close = true;
      break;
  }
  if (*close) head.append("Connection: close\r\n");
  head.append("\r\n");
  return head;
}

void AppendChunk(std::string_view data, std::string& out) {
  char size[24];
  const int n = std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  out.append(size, static_cast<size_t>(n)).append(data).append("\r\n");
}

}  // namespace sobre::gateway::internal
