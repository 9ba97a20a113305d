// ResponseParser: an HTTP/1.1 response parser fed with raw bytes, so the caller decides when to
// read and what to do with each piece of body (SSE events arrive as they are parsed). Keeps
// Beast's parser templates in one translation unit.
#ifndef SOBRE_BACKEND_INTERNAL_RESPONSE_PARSER_H_
#define SOBRE_BACKEND_INTERNAL_RESPONSE_PARSER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sobre::backend::internal {

// Thread-compatible: one parser per response.
class ResponseParser {
 public:
  // `body_limit_bytes` bounds the body; a larger one is an error (ResourceExhausted).
  explicit ResponseParser(uint64_t body_limit_bytes);
  ~ResponseParser();
  ResponseParser(const ResponseParser&) = delete;
  ResponseParser& operator=(const ResponseParser&) = delete;

  // Parses a prefix of `data` and returns how many bytes it used; the caller keeps the rest and
  // calls again with more. Sets *need_more when nothing more can be parsed without more bytes.
  // Errors are DataLoss (malformed HTTP) or ResourceExhausted (limits).
  StatusOr<size_t> Put(std::string_view data, bool* need_more);
  // The connection closed: completes a body delimited by the close, or fails (DataLoss) when the
  // message was cut short.
  Status PutEof();

  bool header_done() const;
  bool done() const;
  // Valid once header_done(): the status code, lower-cased content type without parameters,
  // "retry-after" / "retry-after-ms" values (empty when absent), and whether the connection
  // may be reused after this response.
  int status() const;
  const std::string& content_type() const;
  const std::string& retry_after() const;
  const std::string& retry_after_ms() const;
  bool keep_alive() const;

  // Moves out the body bytes parsed since the last call.
  std::string TakeBody();
  // Body bytes parsed so far, in total.
  uint64_t body_bytes() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sobre::backend::internal

#endif  // SOBRE_BACKEND_INTERNAL_RESPONSE_PARSER_H_
