// UpstreamBackend: a Backend that forwards requests to an OpenAI-compatible server (vLLM,
// llama-server, Ollama, hosted APIs) over HTTP/1.1 or HTTPS, with pooled keep-alive connections,
// retries with jittered backoff, SSE streaming and usage accounting.
#ifndef SOBRE_BACKEND_UPSTREAM_BACKEND_H_
#define SOBRE_BACKEND_UPSTREAM_BACKEND_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"

namespace sobre::backend {

struct UpstreamOptions {
  // Base URL of the OpenAI API, up to and including its version segment:
  // "http://127.0.0.1:9000/v1", "https://api.openai.com/v1". A query string is kept and appended
  // to every request (e.g. Azure's "?api-version=..."). Required.
  std::string base_url;
  // Model name written into each request's "model"; empty: the body's "model" is left as is.
  std::string model;
  // Sent as "Authorization: Bearer <api_key>"; empty: no Authorization header.
  std::string api_key;
  // Extra headers sent with every request (e.g. "OpenAI-Organization", "HTTP-Referer").
  std::vector<std::pair<std::string, std::string>> extra_headers;

  // Resolving, connecting and the TLS handshake of one connection. Default 2 s.
  std::chrono::milliseconds connect_timeout{2000};
  // From sending a request to the first byte of the response body (for a stream, of its first
  // event), per attempt. Default 60 s.
  std::chrono::milliseconds first_byte_timeout{60000};
  // The whole call, retries and backoff included. Default 600 s.
  std::chrono::milliseconds total_timeout{600000};

  // Retries after the first attempt on connection errors (connect timeouts included), 408, 429
  // (not insufficient_quota) and 5xx. Never after a streamed chunk reached the sink, nor after a
  // first-byte or total timeout. Default 2.
  int max_retries = 2;
  // Backoff before retry k (k = 1, 2, ...): uniform in [0, min(backoff_cap, backoff_base *
  // 2^(k-1))] ("full jitter"), unless the upstream sent Retry-After / retry-after-ms, which is
  // then waited for exactly. Defaults 200 ms and 5 s.
  std::chrono::milliseconds backoff_base{200};
  std::chrono::milliseconds backoff_cap{5000};
  // A Retry-After longer than this is not waited for: the call fails at once. Default 30 s.
  std::chrono::milliseconds max_retry_after{30000};
  // Seed of the jitter; 0 draws one from std::random_device. Tests set it.
  uint64_t jitter_seed = 0;

  // Idle keep-alive connections kept for reuse. Default 64.
  size_t pool_size = 64;
  // An idle connection older than this is closed rather than reused. Default 30 s.
  std::chrono::milliseconds pool_idle_timeout{30000};

  // HTTPS: verify the server's certificate chain and name. Default on.
  bool tls_verify = true;
  // PEM file of trusted CAs used instead of the system store; empty: the system store.
  std::string tls_ca_file;

  // Non-streamed response bodies larger than this fail with ResourceExhausted. Default 64 MiB.
  uint64_t max_response_bytes = 64u << 20;
  // True when the upstream runs on this host (a local vLLM), so its energy can be metered here.
  bool is_local = false;
};

// Counters for tests and /metrics. Monotonic.
struct UpstreamStats {
  uint64_t connections_opened = 0;  // New TCP (and TLS) connections established.
  uint64_t connections_reused = 0;  // Requests sent on a pooled keep-alive connection.
  uint64_t requests_sent = 0;       // HTTP requests written, retries included.
  uint64_t retries = 0;             // Attempts after the first, over all calls.
};

// Thread contract: Call() may run concurrently on any number of threads and executors; stats()
// is thread-safe. Destroy the backend after every Call() has completed and before the
// io_contexts its calls ran on (pooled connections belong to them).
class UpstreamBackend final : public Backend {
 public:
  // Validates the options (URL scheme http/https, host, port; readable CA file) and builds the
  // TLS context. InvalidArgument on bad options.
  static StatusOr<std::unique_ptr<UpstreamBackend>> Create(UpstreamOptions options);
  ~UpstreamBackend() override;
  UpstreamBackend(const UpstreamBackend&) = delete;
  UpstreamBackend& operator=(const UpstreamBackend&) = delete;

  // "upstream:<base_url>".
  std::string name() const override;
  bool is_local() const override;

  // Sends `request` to <base_url><EndpointPath> and waits for the answer; see backend.h for the
  // error codes. `sink` is required when request.stream. Cancelling the calling coroutine (Asio
  // per-operation cancellation) closes the connection and returns Cancelled.
  boost::asio::awaitable<StatusOr<BackendResult>> Call(BackendRequest request,
                                                       StreamSink* sink) override;

  void ReleaseConnections() override;

  UpstreamStats stats() const;
  // Idle connections in the pool now.
  size_t idle_connections() const;

 private:
  class Impl;
  explicit UpstreamBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sobre::backend

#endif  // SOBRE_BACKEND_UPSTREAM_BACKEND_H_
