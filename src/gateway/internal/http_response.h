// Formatting of HTTP/1.1 response heads and chunk frames for HttpServer's ResponseWriter. Plain
// string work, kept apart from the Asio code so that it can be read and tested on its own.
#ifndef SOBRE_GATEWAY_INTERNAL_HTTP_RESPONSE_H_
#define SOBRE_GATEWAY_INTERNAL_HTTP_RESPONSE_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"
#include "gateway/http_server.h"

namespace sobre::gateway::internal {

// How the body after a response head is delimited.
enum class BodyFraming {
  kContentLength,  // Content-Length: n.
  kChunked,        // Transfer-Encoding: chunked (HTTP/1.1 streams).
  kUntilClose,     // The body ends when the connection closes (streams to HTTP/1.0 clients).
};

// The reason phrase of `status` ("Not Found"), or "" for codes without a common one.
std::string_view ReasonPhrase(int status);

// Returns the status line and header block, blank line included. The framing headers
// (Content-Length, Transfer-Encoding, Connection) are the server's: the handler's copies are
// dropped, except that a handler's "Connection: close" sets `*close`. "Connection: close" is
// written when `*close` is true on return. InvalidArgument for a status outside 100..599 or a
// header name or value that would break the framing (CR, LF, NUL, bad name characters).
StatusOr<std::string> FormatResponseHead(int status, const HttpHeaders& headers,
                                         BodyFraming framing, size_t content_length_bytes,
                                         bool* close);

// Appends one chunk of the chunked transfer coding ("1a\r\n<data>\r\n") to `out`. `data` must
// not be empty: the empty chunk ends the body.
void AppendChunk(std::string_view data, std::string& out);

// The chunk that ends a chunked body.
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace sobre::gateway::internal

#endif  // SOBRE_GATEWAY_INTERNAL_HTTP_RESPONSE_H_
