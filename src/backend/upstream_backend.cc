// The upstream client: one coroutine per call drives attempts (with retries and backoff), each an
// HTTP exchange on a pooled or fresh connection, parsing the response incrementally so that SSE
// chunks reach the sink as they arrive.
#include "backend/upstream_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <span>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include "backend/internal/connection.h"
#include "backend/internal/connection_pool.h"
#include "backend/internal/response_parser.h"
#include "backend/internal/sse_parser.h"
#include "backend/internal/upstream_status.h"
#include "backend/token_count.h"
#include "core/logging.h"
#include "core/strings.h"

namespace sobre::backend {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
namespace ssl = boost::asio::ssl;
using boost::system::error_code;
using internal::Deadline;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr size_t kReadBufferBytes = 16u << 10;
constexpr size_t kMaxReadBufferBytes = 128u << 10;  // Room for the largest header we accept.
constexpr size_t kMaxErrorBodyBytes = 64u << 10;    // Kept for the error message.

// What one attempt (one HTTP exchange) came to.
struct AttemptOutcome {
  Status status;                                         // Ok: the call's result is filled in.
  bool retryable = false;                                // Worth sending again (nothing delivered).
  std::optional<std::chrono::milliseconds> retry_after;  // The upstream's Retry-After.
  // The connection failed before any response byte: on a pooled connection this is the
  // keep-alive race (the server closed it as we reused it), retried at once on a fresh one.
  bool stale = false;
  bool reusable = false;  // The connection may go back to the pool.
};

std::optional<int64_t> IntField(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(json::string_view(key.data(), key.size()));
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<int64_t>(std::llround(v->get_double()));
  return std::nullopt;
}

// Usage as the upstream reported it, when it is complete enough to trust.
std::optional<Usage> ReportedUsage(const json::value* usage, Endpoint endpoint) {
  if (usage == nullptr || !usage->is_object()) return std::nullopt;
  const json::object& u = usage->get_object();
  std::optional<int64_t> prompt = IntField(u, "prompt_tokens");
  std::optional<int64_t> completion = IntField(u, "completion_tokens");
  if (!prompt) return std::nullopt;
  if (!completion) {
    if (endpoint != Endpoint::kEmbeddings) return std::nullopt;
    completion = 0;  // Embeddings report prompt_tokens and total_tokens only.
  }
  return Usage{*prompt, *completion, true};
}

Usage EstimatedUsage(Endpoint endpoint, const json::object& request_body,
                     std::string_view generated) {
  Usage usage;
  usage.prompt_tokens = EstimatePromptTokens(endpoint, request_body);
  usage.completion_tokens = endpoint == Endpoint::kEmbeddings ? 0 : EstimateTokens(generated);
  usage.reported = false;
  return usage;
}

bool IsUsageOnlyChunk(const json::object& chunk) {
  const json::value* choices = chunk.if_contains("choices");
  return choices != nullptr && choices->is_array() && choices->get_array().empty();
}

// Header values come from configuration and from request ids; CR and LF would split headers.
std::string HeaderSafe(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) out.push_back(c);
  }
  return out;
}

bool HasControlChars(std::string_view value) { return HeaderSafe(value).size() != value.size(); }

}  // namespace

class UpstreamBackend::Impl {
 public:
  Impl(UpstreamOptions options, internal::Origin origin, std::string path_prefix, std::string query,
       std::string host_header, std::unique_ptr<ssl::context> tls)
      : options_(std::move(options)),
        origin_(std::move(origin)),
        path_prefix_(std::move(path_prefix)),
        query_(std::move(query)),
        host_header_(std::move(host_header)),
        tls_(std::move(tls)),
        pool_(options_.pool_size, options_.pool_idle_timeout),
        rng_(options_.jitter_seed != 0 ? options_.jitter_seed : std::random_device{}()) {}

  asio::awaitable<StatusOr<BackendResult>> Call(BackendRequest request, StreamSink* sink);

  const UpstreamOptions& options() const { return options_; }
  UpstreamStats stats() const {
    UpstreamStats s;
    s.connections_opened = connections_opened_.load(std::memory_order_relaxed);
    s.connections_reused = connections_reused_.load(std::memory_order_relaxed);
    s.requests_sent = requests_sent_.load(std::memory_order_relaxed);
    s.retries = retries_.load(std::memory_order_relaxed);
    return s;
  }
  size_t idle_connections() const { return pool_.idle(); }
  void ReleaseConnections() { pool_.Clear(); }

 private:
  const std::string& name_for_logs() const { return options_.base_url; }

  // Everything one call carries across its attempts.
  struct CallState {
    Endpoint endpoint = Endpoint::kChatCompletions;
    bool stream = false;
    StreamSink* sink = nullptr;
    json::object body;      // As sent, for counting prompt tokens.
    std::string body_text;  // Serialised body.
    std::string head;       // Request line and headers.
    SteadyClock::time_point start;
    Deadline total_deadline;
    BackendResult result;
    bool delivered = false;  // A chunk reached the sink: no more retries.
  };

  void PrepareRequest(BackendRequest& request, CallState* state) const;
  asio::awaitable<AttemptOutcome> Attempt(CallState& state, asio::any_io_executor executor);
  asio::awaitable<AttemptOutcome> Exchange(CallState& state, internal::Connection& conn);
  // Parses the events of a stream, hands chunks to the sink and records usage; clears `events`.
  asio::awaitable<Status> HandleEvents(CallState& state, std::vector<internal::SseEvent>& events,
                                       bool* done_seen, std::optional<Usage>* reported_usage,
                                       std::string* generated);
  std::chrono::milliseconds Backoff(int failed_attempt);

  const UpstreamOptions options_;
  const internal::Origin origin_;
  const std::string path_prefix_;  // Path of base_url without its trailing '/', e.g. "/v1".
  const std::string query_;        // "?..." from base_url, or empty.
  const std::string host_header_;
  const std::unique_ptr<ssl::context> tls_;  // Null for http.
  internal::ConnectionPool pool_;

  std::mutex rng_mu_;
  std::mt19937_64 rng_;  // Guarded by rng_mu_.

  std::atomic<uint64_t> connections_opened_{0};
  std::atomic<uint64_t> connections_reused_{0};
  std::atomic<uint64_t> requests_sent_{0};
  std::atomic<uint64_t> retries_{0};
};

void UpstreamBackend::Impl::PrepareRequest(BackendRequest& request, CallState* state) const {
  state->endpoint = request.endpoint;
  state->stream = request.stream && request.endpoint != Endpoint::kEmbeddings;
  state->body = std::move(request.body);
  if (!options_.model.empty()) state->body["model"] = options_.model;
  if (state->stream) {
    state->body["stream"] = true;
  } else if (state->body.contains("stream")) {
    // The request is not read as a stream, so the upstream must not send one.
    state->body.erase("stream");
    state->body.erase("stream_options");
  }
  state->body_text = json::serialize(state->body);

  std::string& h = state->head;
  h.reserve(512);
  h += "POST ";
  h += path_prefix_;
  h += EndpointPath(state->endpoint);
  h += query_;
  h += " HTTP/1.1\r\nHost: ";
  h += host_header_;
  h += "\r\nUser-Agent: sobre/0.1\r\nContent-Type: application/json\r\nAccept: ";
  h += state->stream ? "text/event-stream" : "application/json";
  h += "\r\n";
  if (!options_.api_key.empty()) {
    h += "Authorization: Bearer ";
    h += options_.api_key;
    h += "\r\n";
  }
  for (const auto& [name, value] : options_.extra_headers) {
    h += name;
    h += ": ";
    h += value;
    h += "\r\n";
  }
  if (!request.request_id.empty()) {
    h += "x-request-id: ";
    h += HeaderSafe(request.request_id);
    h += "\r\n";
  }
  h += "Content-Length: ";
  h += std::to_string(state->body_text.size());
  h += "\r\n\r\n";
}

std::chrono::milliseconds UpstreamBackend::Impl::Backoff(int failed_attempt) {
  double base_ms = static_cast<double>(options_.backoff_base.count());
  double ceiling_ms = std::min(static_cast<double>(options_.backoff_cap.count()),
                               base_ms * std::ldexp(1.0, std::min(failed_attempt - 1, 30)));
  if (ceiling_ms <= 0) return std::chrono::milliseconds(0);
  std::uniform_real_distribution<double> jitter(0.0, ceiling_ms);
  std::lock_guard<std::mutex> lock(rng_mu_);
  return std::chrono::milliseconds(static_cast<int64_t>(jitter(rng_)));
}

asio::awaitable<StatusOr<BackendResult>> UpstreamBackend::Impl::Call(BackendRequest request,
                                                                     StreamSink* sink) {
  asio::any_io_executor executor = co_await asio::this_coro::executor;
  asio::cancellation_state cancellation = co_await asio::this_coro::cancellation_state;
  if (request.stream && request.endpoint != Endpoint::kEmbeddings && sink == nullptr) {
    co_return InvalidArgumentError("a streaming call needs a StreamSink");
  }
  CallState state;
  state.start = SteadyClock::now();
  state.total_deadline = state.start + options_.total_timeout;
  state.sink = sink;
  PrepareRequest(request, &state);

  for (int attempt = 1;; ++attempt) {
    state.result.attempts = attempt;
    if (attempt > 1) retries_.fetch_add(1, std::memory_order_relaxed);
    AttemptOutcome outcome = co_await Attempt(state, executor);
    if (outcome.status.ok()) {
      state.result.total = SteadyClock::now() - state.start;
      co_return std::move(state.result);
    }
    auto fail = [&]() {
      if (attempt == 1) return outcome.status;
      return Status(outcome.status.code(),
                    outcome.status.message() + " (after " + std::to_string(attempt) + " attempts)");
    };
    if (!outcome.retryable || state.delivered || attempt > options_.max_retries) co_return fail();
    // A cancelled operation may surface as an I/O error; a cancelled call is never retried.
    if (cancellation.cancelled() != asio::cancellation_type::none) {
      co_return CancelledError("upstream call cancelled");
    }
    if (outcome.retry_after && *outcome.retry_after > options_.max_retry_after) co_return fail();
    std::chrono::milliseconds delay = outcome.retry_after ? *outcome.retry_after : Backoff(attempt);
    if (SteadyClock::now() + delay >= state.total_deadline) co_return fail();
    SOBRE_LOG(kDebug, "upstream {}: attempt {} failed ({}); retrying in {} ms", name_for_logs(),
              attempt, outcome.status.ToString(), delay.count());
    asio::steady_timer timer(executor, delay);
    auto [ec] = co_await timer.async_wait(kNoThrow);
    if (ec) co_return CancelledError("upstream call cancelled while waiting to retry");
  }
}

asio::awaitable<AttemptOutcome> UpstreamBackend::Impl::Attempt(CallState& state,
                                                               asio::any_io_executor executor) {
  asio::execution_context* context = &asio::query(executor, asio::execution::context);
  std::unique_ptr<internal::Connection> conn = pool_.Take(context);
  for (;;) {
    bool reused = conn != nullptr;
    if (!reused) {
      Deadline deadline =
          std::min<Deadline>(SteadyClock::now() + options_.connect_timeout, state.total_deadline);
      StatusOr<std::unique_ptr<internal::Connection>> fresh =
          co_await internal::Connect(executor, origin_, tls_.get(), options_.tls_verify, deadline);
      if (!fresh.ok()) {
        AttemptOutcome outcome;
        outcome.status = fresh.status();
        // A connect timeout is worth retrying unless the call as a whole ran out of time.
        outcome.retryable = (outcome.status.code() == StatusCode::kUnavailable ||
                             outcome.status.code() == StatusCode::kDeadlineExceeded) &&
                            SteadyClock::now() < state.total_deadline;
        co_return outcome;
      }
      conn = std::move(*fresh);
      connections_opened_.fetch_add(1, std::memory_order_relaxed);
    } else {
      connections_reused_.fetch_add(1, std::memory_order_relaxed);
    }
    requests_sent_.fetch_add(1, std::memory_order_relaxed);
    AttemptOutcome outcome = co_await Exchange(state, *conn);
    if (outcome.stale && reused) {
      SOBRE_LOG(kDebug, "upstream {}: pooled connection was closed; using a fresh one",
                name_for_logs());
      conn.reset();
      continue;
    }
    if (outcome.reusable) {
      pool_.Put(std::move(conn));
    } else {
      conn->Close();
    }
    co_return outcome;
  }
}

asio::awaitable<AttemptOutcome> UpstreamBackend::Impl::Exchange(CallState& state,
                                                                internal::Connection& conn) {
  AttemptOutcome outcome;
  const Deadline first_byte_deadline =
      std::min<Deadline>(SteadyClock::now() + options_.first_byte_timeout, state.total_deadline);

  error_code write_ec = co_await conn.WriteAll(state.head, state.body_text, first_byte_deadline);
  if (write_ec) {
    if (write_ec == boost::beast::error::timeout) {
      outcome.status = DeadlineExceededError("sending the request to upstream timed out");
    } else if (write_ec == asio::error::operation_aborted) {
      outcome.status = CancelledError("upstream call cancelled");
    } else {
      outcome.status = UnavailableError("sending the request to upstream: " + write_ec.message());
      outcome.retryable = true;
      outcome.stale = true;
    }
    co_return outcome;
  }

  enum class Mode { kHeader, kError, kJson, kStream, kUnexpected };
  Mode mode = Mode::kHeader;
  internal::ResponseParser parser(state.stream ? UINT64_MAX : options_.max_response_bytes);
  internal::SseParser sse;
  std::vector<internal::SseEvent> events;
  std::string body;  // Error or JSON body; unused for a stream.
  std::string generated;
  std::optional<Usage> reported_usage;  // From the last event that carried usage.
  bool done_seen = false;
  bool got_byte = false;
  bool body_started = false;
  std::vector<char> buffer(kReadBufferBytes);
  size_t filled = 0;

  // Every failure after the request went out goes through here: it decides retryability from
  // what the client already saw.
  auto broken = [&](std::string what) {
    AttemptOutcome o;
    if (state.delivered) {
      o.status = DataLossError("upstream stream broke after chunks were delivered: " + what);
    } else {
      o.status = UnavailableError(std::move(what));
      o.retryable = true;
      o.stale = !got_byte;
    }
    return o;
  };

  for (;;) {
    bool need_more = true;
    if (filled > 0) {
      StatusOr<size_t> used = parser.Put(std::string_view(buffer.data(), filled), &need_more);
      if (!used.ok()) {
        outcome.status = used.status();
        co_return outcome;
      }
      if (*used == 0) need_more = true;  // No progress: only more bytes can help.
      std::memmove(buffer.data(), buffer.data() + *used, filled - *used);
      filled -= *used;
    }
    if (mode == Mode::kHeader && parser.header_done()) {
      int status = parser.status();
      if (status < 200 || status >= 300) {
        mode = Mode::kError;
      } else if (!state.stream) {
        mode = Mode::kJson;
      } else if (parser.content_type() == "text/event-stream") {
        mode = Mode::kStream;
      } else {
        mode = Mode::kUnexpected;
      }
    }
    std::string piece = parser.TakeBody();
    if (!piece.empty()) body_started = true;
    if (mode == Mode::kStream && !piece.empty()) {
      Status fed = sse.Feed(piece, &events);
      if (!fed.ok()) {
        outcome.status = fed;
        co_return outcome;
      }
      Status handled =
          co_await HandleEvents(state, events, &done_seen, &reported_usage, &generated);
      if (!handled.ok()) {
        outcome.status = handled;
        co_return outcome;
      }
    } else if (mode == Mode::kJson) {
      body += piece;
    } else if (body.size() < kMaxErrorBodyBytes) {
      body.append(piece, 0, kMaxErrorBodyBytes - body.size());
    }
    if (parser.done()) break;
    if (!need_more && filled > 0) continue;

    if (filled == buffer.size()) {
      if (buffer.size() >= kMaxReadBufferBytes) {
        outcome.status = ResourceExhaustedError("upstream response header too large");
        co_return outcome;
      }
      buffer.resize(buffer.size() * 2);
    }
    Deadline deadline = body_started ? state.total_deadline : first_byte_deadline;
    internal::IoResult read = co_await conn.ReadSome(
        std::span<char>(buffer.data() + filled, buffer.size() - filled), deadline);
    if (read.ec == asio::error::eof) {
      if (!got_byte) co_return broken("upstream closed the connection without responding");
      Status eof = parser.PutEof();
      if (!eof.ok()) co_return broken(eof.message());
      std::string rest = parser.TakeBody();
      if (mode == Mode::kStream) {
        Status fed = sse.Feed(rest, &events);
        if (!fed.ok()) {
          outcome.status = fed;
          co_return outcome;
        }
      } else {
        body += rest;
      }
      break;
    }
    if (read.ec == boost::beast::error::timeout) {
      bool total = SteadyClock::now() >= state.total_deadline || body_started;
      outcome.status = DeadlineExceededError(
          total ? "upstream call exceeded its total timeout of " +
                      std::to_string(options_.total_timeout.count()) + " ms"
                : "no response from upstream within the first-byte timeout of " +
                      std::to_string(options_.first_byte_timeout.count()) + " ms");
      co_return outcome;
    }
    if (read.ec == asio::error::operation_aborted) {
      outcome.status = CancelledError("upstream call cancelled");
      co_return outcome;
    }
    if (read.ec) co_return broken("reading from upstream: " + read.ec.message());
    if (!got_byte && read.bytes > 0) {
      got_byte = true;
      state.result.first_byte = SteadyClock::now() - state.start;
    }
    filled += read.bytes;
  }
  outcome.reusable = parser.done() && parser.keep_alive() && filled == 0;

  switch (mode) {
    case Mode::kHeader:
      outcome.status = DataLossError("upstream response ended before its header");
      outcome.reusable = false;
      co_return outcome;
    case Mode::kError: {
      int status = parser.status();
      internal::UpstreamError error = internal::ParseUpstreamError(status, body);
      outcome.status = internal::StatusFromUpstream(status, error);
      outcome.retryable = internal::IsRetryableHttpStatus(status, error);
      if (!parser.retry_after_ms().empty()) {
        outcome.retry_after = internal::ParseRetryAfterMs(parser.retry_after_ms());
      }
      if (!outcome.retry_after && !parser.retry_after().empty()) {
        outcome.retry_after = internal::ParseRetryAfterSeconds(parser.retry_after());
      }
      co_return outcome;
    }
    case Mode::kUnexpected:
      outcome.status = DataLossError("upstream answered a streaming request with Content-Type '" +
                                     parser.content_type() + "'");
      co_return outcome;
    case Mode::kJson: {
      error_code ec;
      json::value doc = json::parse(body, ec);
      if (ec || !doc.is_object()) {
        outcome.status = DataLossError("upstream sent a malformed JSON body" +
                                       (ec ? ": " + ec.message() : std::string()));
        co_return outcome;
      }
      state.result.body = std::move(doc.get_object());
      std::optional<Usage> usage =
          ReportedUsage(state.result.body.if_contains("usage"), state.endpoint);
      if (usage) {
        state.result.usage = *usage;
      } else {
        AppendGeneratedText(state.result.body, &generated);
        state.result.usage = EstimatedUsage(state.endpoint, state.body, generated);
      }
      co_return outcome;
    }
    case Mode::kStream: {
      sse.Finish(&events);
      Status handled =
          co_await HandleEvents(state, events, &done_seen, &reported_usage, &generated);
      if (!handled.ok()) {
        outcome.status = handled;
        outcome.reusable = false;
        co_return outcome;
      }
      if (!done_seen) {
        outcome.status = DataLossError("upstream stream ended without data: [DONE]");
        outcome.reusable = false;
        co_return outcome;
      }
      state.result.usage =
          reported_usage ? *reported_usage : EstimatedUsage(state.endpoint, state.body, generated);
      co_return outcome;
    }
  }
  co_return outcome;
}

asio::awaitable<Status> UpstreamBackend::Impl::HandleEvents(CallState& state,
                                                            std::vector<internal::SseEvent>& events,
                                                            bool* done_seen,
                                                            std::optional<Usage>* reported_usage,
                                                            std::string* generated) {
  for (internal::SseEvent& event : events) {
    if (*done_seen) continue;  // Anything after [DONE] is ignored.
    if (Trim(event.data) == "[DONE]") {
      *done_seen = true;
      continue;
    }
    error_code ec;
    json::value doc = json::parse(event.data, ec);
    if (ec || !doc.is_object()) {
      events.clear();
      co_return DataLossError("upstream sent a malformed stream event: " +
                              event.data.substr(0, 200));
    }
    json::object chunk = std::move(doc.get_object());
    if (const json::value* error = chunk.if_contains("error"); error != nullptr) {
      internal::UpstreamError e = internal::ParseUpstreamError(500, event.data);
      events.clear();
      if (state.delivered) {
        co_return DataLossError("upstream reported an error mid-stream: " + e.message);
      }
      co_return UnavailableError("upstream reported an error in its stream: " + e.message);
    }
    // Usually only the final choices: [] chunk has usage; some servers (vLLM with
    // continuous_usage_stats) put running totals on every chunk, so the last one wins.
    if (std::optional<Usage> usage = ReportedUsage(chunk.if_contains("usage"), state.endpoint)) {
      *reported_usage = usage;
    }
    if (IsUsageOnlyChunk(chunk)) {
      state.result.usage_chunk = std::move(chunk);
      continue;
    }
    AppendGeneratedText(chunk, generated);
    state.delivered = true;
    bool more = co_await state.sink->OnChunk(std::move(chunk));
    if (!more) {
      events.clear();
      co_return CancelledError("the stream's consumer cancelled it");
    }
  }
  events.clear();
  co_return OkStatus();
}

StatusOr<std::unique_ptr<UpstreamBackend>> UpstreamBackend::Create(UpstreamOptions options) {
  auto bad = [&](std::string why) {
    return InvalidArgumentError("upstream base_url '" + options.base_url + "': " + why);
  };
  boost::system::result<boost::urls::url_view> url = boost::urls::parse_uri(options.base_url);
  if (!url) return bad(url.error().message());
  std::string scheme = ToLower(std::string_view(url->scheme().data(), url->scheme().size()));
  if (scheme != "http" && scheme != "https") return bad("scheme must be http or https");
  if (url->has_userinfo()) return bad("credentials in the URL are not supported; use api_key");
  if (url->has_fragment()) return bad("a fragment is not allowed");

  internal::Origin origin;
  origin.tls = scheme == "https";
  std::string host_address = url->host_address();
  if (host_address.empty()) return bad("no host");
  origin.host = host_address;
  origin.port = url->has_port() ? std::string(url->port()) : (origin.tls ? "443" : "80");
  StatusOr<uint64_t> port = ParseUint64(origin.port);
  if (!port.ok() || *port == 0 || *port > 65535) return bad("bad port");
  std::string host_header = std::string(url->encoded_host_and_port());

  std::string path(url->encoded_path());
  while (!path.empty() && path.back() == '/') path.pop_back();
  std::string query = url->has_query() ? "?" + std::string(url->encoded_query()) : "";

  if (HasControlChars(options.api_key)) {
    return InvalidArgumentError("upstream api_key contains control characters");
  }
  for (const auto& [name, value] : options.extra_headers) {
    if (name.empty() || HasControlChars(name) || name.find(':') != std::string::npos ||
        name.find(' ') != std::string::npos || HasControlChars(value)) {
      return InvalidArgumentError("upstream extra header '" + HeaderSafe(name) + "' is malformed");
    }
  }
  if (options.max_retries < 0) return InvalidArgumentError("upstream max_retries must be >= 0");

  std::unique_ptr<ssl::context> tls;
  if (origin.tls) {
    // Asio's ssl::context constructor throws on OpenSSL failure; this is its one boundary.
    try {
      tls = std::make_unique<ssl::context>(ssl::context::tls_client);
    } catch (const std::exception& e) {
      return InternalError(std::string("creating the TLS context: ") + e.what());
    }
    error_code ec;
    tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                     ec);
    if (options.tls_verify) {
      tls->set_verify_mode(ssl::verify_peer, ec);
      if (!options.tls_ca_file.empty()) {
        tls->load_verify_file(options.tls_ca_file, ec);
        if (ec) {
          return InvalidArgumentError("upstream tls_ca_file '" + options.tls_ca_file +
                                      "': " + ec.message());
        }
      } else {
        tls->set_default_verify_paths(ec);
        if (ec) return InternalError("loading the system CA store: " + ec.message());
      }
    } else {
      tls->set_verify_mode(ssl::verify_none, ec);
    }
  }
  auto impl = std::make_unique<Impl>(std::move(options), std::move(origin), std::move(path),
                                     std::move(query), std::move(host_header), std::move(tls));
  return std::unique_ptr<UpstreamBackend>(new UpstreamBackend(std::move(impl)));
}

UpstreamBackend::UpstreamBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UpstreamBackend::~UpstreamBackend() = default;

std::string UpstreamBackend::name() const { return "upstream:" + impl_->options().base_url; }
bool UpstreamBackend::is_local() const { return impl_->options().is_local; }
UpstreamStats UpstreamBackend::stats() const { return impl_->stats(); }
size_t UpstreamBackend::idle_connections() const { return impl_->idle_connections(); }

void UpstreamBackend::ReleaseConnections() { impl_->ReleaseConnections(); }

asio::awaitable<StatusOr<BackendResult>> UpstreamBackend::Call(BackendRequest request,
                                                               StreamSink* sink) {
  // Per-operation cancellation must surface as Status values, not as exceptions thrown at the
  // next co_await; the caller's setting is restored on the way out.
  bool caller_throws = co_await asio::this_coro::throw_if_cancelled();
  co_await asio::this_coro::throw_if_cancelled(false);
  std::optional<StatusOr<BackendResult>> result;
  // The boundary for exceptions from Asio, Boost.JSON allocation and the sink.
  try {
    result.emplace(co_await impl_->Call(std::move(request), sink));
  } catch (const std::exception& e) {
    result.emplace(InternalError(std::string("upstream call failed: ") + e.what()));
  }
  co_await asio::this_coro::throw_if_cancelled(caller_throws);
  co_return std::move(*result);
}

}  // namespace sobre::backend
