// Backend: where the gateway sends a request that the cache did not answer. Implementations:
// an upstream OpenAI-compatible server over HTTP(S) (upstream_backend.h) and, later, the embedded
// engine. Bodies stay OpenAI JSON so that fields sobre does not interpret (tools, tool messages,
// response_format...) pass through untouched.
#ifndef SOBRE_BACKEND_BACKEND_H_
#define SOBRE_BACKEND_BACKEND_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include "core/status.h"
#include "core/units.h"

namespace sobre::backend {

enum class Endpoint { kChatCompletions, kCompletions, kEmbeddings };

// "/chat/completions", "/completions", "/embeddings": the path below an OpenAI base URL.
const char* EndpointPath(Endpoint e);

// Token counts of one request.
struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  bool reported = false;  // True when the backend gave the counts; false when sobre counted them.
};

struct BackendRequest {
  Endpoint endpoint = Endpoint::kChatCompletions;
  // The OpenAI request body, validated by the gateway, with "model" already set to the name the
  // backend knows. For streaming, "stream": true and "stream_options": {"include_usage": true}
  // are set so that the backend reports usage whenever it can.
  boost::json::object body;
  bool stream = false;
  std::string request_id;  // Sent upstream as x-request-id, for correlation.
};

struct BackendResult {
  // Non-streaming: the whole response body as the backend sent it. Streaming: empty.
  boost::json::object body;
  Usage usage;
  std::chrono::nanoseconds first_byte{0};  // From the call to the first response byte.
  std::chrono::nanoseconds total{0};       // From the call to the last byte.
  std::optional<Joules> energy;            // Set only by backends that measure (local GPU, engine).
  // True when `energy` comes from a model of this host (the engine's CPU-time power model where
  // no RAPL counter is readable), not from a meter: the footprint then says "estimated".
  bool energy_estimated = false;
  int attempts = 1;                        // Tries made, retries included.
  // Streaming only: the upstream's last chunk with "choices": [] and "usage", if it sent one.
  std::optional<boost::json::object> usage_chunk;
};

// Receives the chunks of a streamed response in order, each a parsed `data:` JSON object
// (chat.completion.chunk or text_completion). The usage-only chunk (choices: []) is not passed to
// OnChunk: it is returned in BackendResult::usage_chunk, so the gateway can add its footprint.
// Returning false cancels the stream (the client went away).
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  virtual boost::asio::awaitable<bool> OnChunk(boost::json::object chunk) = 0;
};

// Errors are Status values whose code the gateway maps to HTTP (gateway/errors.h):
//   kUnavailable        cannot connect, connection reset, upstream 5xx after retries -> 502/503
//   kDeadlineExceeded   connect / first-byte / total timeout                          -> 504
//   kResourceExhausted  upstream 429 after retries                                    -> 429
//   kInvalidArgument    upstream 400/422: the request itself is wrong (message is the upstream's)
//   kNotFound           upstream 404 (e.g. the upstream does not know the model)
//   kFailedPrecondition upstream 401/403: sobre's credentials for it are wrong        -> 502
//   kDataLoss           the stream broke after chunks were delivered, or a malformed body
// A streaming call that fails before its first OnChunk can be retried elsewhere (fallback); one
// that fails after has already sent chunks to the sink.
//
// Thread contract: Call() may run concurrently for many requests on any executor.
class Backend {
 public:
  virtual ~Backend() = default;
  // Stable name for logs and the ledger, e.g. "upstream:http://127.0.0.1:9000/v1".
  virtual std::string name() const = 0;
  // True when the work runs on this host (its energy can be metered here).
  virtual bool is_local() const = 0;
  virtual boost::asio::awaitable<StatusOr<BackendResult>> Call(BackendRequest request,
                                                               StreamSink* sink) = 0;
  // Closes idle pooled connections. Call after the server's threads have stopped and before its
  // io_context is destroyed (the connections belong to it). Default: nothing to release.
  virtual void ReleaseConnections() {}
};

}  // namespace sobre::backend

#endif  // SOBRE_BACKEND_BACKEND_H_
