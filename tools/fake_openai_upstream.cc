// fake_openai_upstream: a scripted OpenAI-compatible server, so that tests and benchmarks of sobre
// need no model and no network. Answers /v1/chat/completions, /v1/completions, /v1/embeddings and
// /v1/models with deterministic content, and injects latency, errors and broken streams on demand,
// from flags (defaults for every request) or per request (the x-fake-behavior header or the
// "x_fake_behavior" body field). Run with --help for the list.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "tools/fake_openai_upstream_script.h"

namespace sobre::fake_upstream {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace json = boost::json;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// Counters served at GET /fake/stats.
struct Stats {
  std::atomic<uint64_t> requests{0};     // API requests (/v1/...), dropped ones included.
  std::atomic<uint64_t> connections{0};  // Connections that carried at least one API request.
  std::atomic<uint64_t> accepted{0};     // All accepted connections (/fake/stats ones too).
  std::atomic<uint64_t> active_connections{0};
  std::atomic<uint64_t> chat_completions{0};
  std::atomic<uint64_t> completions{0};
  std::atomic<uint64_t> embeddings{0};
  std::atomic<uint64_t> models{0};
  std::atomic<uint64_t> injected_failures{0};
  std::atomic<uint64_t> dropped{0};
  std::atomic<uint64_t> cut_streams{0};
  std::atomic<uint64_t> completed_streams{0};
  std::atomic<uint64_t> client_gone{0};  // Streams whose client stopped reading (cancelled).

  std::mutex mu;
  std::unordered_map<std::string, uint64_t> key_requests;  // Guarded by mu.
};

using Request = http::request<http::string_body>;

class Server {
 public:
  explicit Server(ServerOptions options) : options_(std::move(options)) {}

  // Binds, prints the address and serves until SIGINT/SIGTERM. Returns the exit code.
  int Run();

 private:
  asio::awaitable<void> AcceptLoop(tcp::acceptor& acceptor);
  template <typename Stream>
  asio::awaitable<void> Session(Stream stream);
  // Answers one request; false: close the connection.
  template <typename Stream>
  asio::awaitable<bool> Handle(Stream& stream, const Request& req, int index_on_connection);
  template <typename Stream>
  asio::awaitable<bool> SendJson(Stream& stream, const Request& req, int status,
                                 const json::object& body, bool keep_alive,
                                 double retry_after_s = -1);
  template <typename Stream>
  asio::awaitable<bool> SendRaw(Stream& stream, const Request& req, int status,
                                std::string content_type, std::string body, bool keep_alive,
                                double retry_after_s);
  template <typename Stream>
  asio::awaitable<bool> Generate(Stream& stream, const Request& req, const json::object& body,
                                 const Behavior& b, bool chat);
  template <typename Stream>
  asio::awaitable<bool> Embed(Stream& stream, const Request& req, const json::object& body,
                              const Behavior& b);
  json::object StatsJson(std::string_view query);
  void Reset();

  ServerOptions options_;
  std::optional<ssl::context> tls_;
  Stats stats_;
  std::atomic<uint64_t> next_id_{1};
};

asio::awaitable<void> Sleep(std::chrono::milliseconds d) {
  if (d.count() <= 0) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(kNoThrow);
}

void CloseLowest(beast::tcp_stream& s) { s.close(); }

template <typename Stream>
void CloseStream(Stream& stream) {
  CloseLowest(beast::get_lowest_layer(stream));
}

int Server::Run() {
  if (!options_.tls_cert_out.empty()) {
    std::optional<PemPair> pem = MakeSelfSignedCert();
    if (!pem) {
      std::fprintf(stderr, "fake_openai_upstream: cannot make a certificate\n");
      return 1;
    }
    std::ofstream(options_.tls_cert_out) << pem->cert;
    tls_.emplace(ssl::context::tls_server);
    error_code ec;
    tls_->use_certificate_chain(asio::buffer(pem->cert), ec);
    if (!ec) tls_->use_private_key(asio::buffer(pem->key), ssl::context::pem, ec);
    if (ec) {
      std::fprintf(stderr, "fake_openai_upstream: TLS setup: %s\n", ec.message().c_str());
      return 1;
    }
  }
  asio::io_context io(options_.threads);
  error_code ec;
  asio::ip::address address = asio::ip::make_address(options_.host, ec);
  if (ec) {
    std::fprintf(stderr, "fake_openai_upstream: bad --host %s\n", options_.host.c_str());
    return 2;
  }
  tcp::acceptor acceptor(io);
  tcp::endpoint endpoint(address, options_.port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::fprintf(stderr, "fake_openai_upstream: cannot listen on %s:%u: %s\n",
                 options_.host.c_str(), options_.port, ec.message().c_str());
    return 1;
  }
  tcp::endpoint bound = acceptor.local_endpoint(ec);
  std::printf("listening %s:%u\n", bound.address().to_string().c_str(), bound.port());
  std::fflush(stdout);

  asio::co_spawn(io, AcceptLoop(acceptor), [](std::exception_ptr e) {
    if (e) std::fprintf(stderr, "fake_openai_upstream: accept loop ended by an exception\n");
  });
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const error_code&, int) { io.stop(); });

  std::vector<std::jthread> threads;
  for (int i = 1; i < options_.threads; ++i) threads.emplace_back([&io] { io.run(); });
  io.run();
  io.stop();
  return 0;
}

asio::awaitable<void> Server::AcceptLoop(tcp::acceptor& acceptor) {
  for (;;) {
    // Each connection on its own strand: Beast's timers and the session never run concurrently.
    auto [ec, socket] =
        co_await acceptor.async_accept(asio::make_strand(acceptor.get_executor()), kNoThrow);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;
    }
    stats_.accepted.fetch_add(1);
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto executor = socket.get_executor();
    auto on_done = [](std::exception_ptr e) {
      if (e) std::fprintf(stderr, "fake_openai_upstream: session ended by an exception\n");
    };
    if (tls_) {
      asio::co_spawn(executor,
                     Session(beast::ssl_stream<beast::tcp_stream>(std::move(socket), *tls_)),
                     on_done);
    } else {
      asio::co_spawn(executor, Session(beast::tcp_stream(std::move(socket))), on_done);
    }
  }
}

template <typename Stream>
asio::awaitable<void> Server::Session(Stream stream) {
  stats_.active_connections.fetch_add(1);
  struct Leave {
    std::atomic<uint64_t>& active;
    ~Leave() { active.fetch_sub(1); }
  } leave{stats_.active_connections};

  if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, kNoThrow);
    if (ec) co_return;
  }
  beast::flat_buffer buffer;
  for (int index = 0;; ++index) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    beast::get_lowest_layer(stream).expires_after(
        std::chrono::milliseconds(options_.idle_timeout_ms));
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kNoThrow);
    (void)n;
    if (ec) break;
    beast::get_lowest_layer(stream).expires_never();
    Request req = parser.release();
    bool keep = co_await Handle(stream, req, index);
    if (!keep || !req.keep_alive()) break;
  }
  CloseStream(stream);
}

template <typename Stream>
asio::awaitable<bool> Server::SendRaw(Stream& stream, const Request& req, int status,
                                      std::string content_type, std::string body, bool keep_alive,
                                      double retry_after_s) {
  http::response<http::string_body> res{static_cast<http::status>(status), req.version()};
  res.set(http::field::server, "fake_openai_upstream");
  res.set(http::field::content_type, content_type);
  if (auto id = req.find("x-request-id"); id != req.end()) {
    res.set("x-request-id", id->value());
  }
  res.set("openai-processing-ms", "1");
  if (retry_after_s >= 0) {
    char text[32];
    if (retry_after_s == std::floor(retry_after_s)) {
      std::snprintf(text, sizeof(text), "%.0f", retry_after_s);
    } else {
      std::snprintf(text, sizeof(text), "%.3f", retry_after_s);
    }
    res.set(http::field::retry_after, text);
  }
  res.keep_alive(keep_alive && req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  auto [ec, n] = co_await http::async_write(stream, res, kNoThrow);
  (void)n;
  co_return !ec && res.keep_alive();
}

template <typename Stream>
asio::awaitable<bool> Server::SendJson(Stream& stream, const Request& req, int status,
                                       const json::object& body, bool keep_alive,
                                       double retry_after_s) {
  co_return co_await SendRaw(stream, req, status, "application/json", json::serialize(body),
                             keep_alive, retry_after_s);
}

template <typename Stream>
asio::awaitable<bool> Server::Handle(Stream& stream, const Request& req, int index) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  std::string_view query =
      target.find('?') == std::string_view::npos ? "" : target.substr(target.find('?') + 1);

  if (path == "/fake/stats" && req.method() == http::verb::get) {
    co_return co_await SendJson(stream, req, 200, StatsJson(query), true);
  }
  if (path == "/fake/reset" && req.method() == http::verb::post) {
    Reset();
    // Built before the co_await: GCC 12 miscompiles braced temporaries that live across one.
    json::object reset{{"reset", true}};
    co_return co_await SendJson(stream, req, 200, reset, true);
  }
  stats_.requests.fetch_add(1);
  if (index == 0) stats_.connections.fetch_add(1);

  Behavior b = options_.defaults;
  if (auto h = req.find("x-fake-behavior"); h != req.end()) {
    std::string error = ApplyBehaviorSpec(h->value(), &b);
    if (!error.empty()) {
      co_return co_await SendJson(stream, req, 400, ErrorBody(400, "x-fake-behavior: " + error),
                                  true);
    }
  }
  json::object body;
  bool body_ok = true;
  if (req.method() == http::verb::post) {
    error_code ec;
    json::value doc = json::parse(req.body(), ec);
    if (ec || !doc.is_object()) {
      body_ok = false;
    } else {
      body = std::move(doc.get_object());
      if (const json::value* spec = body.if_contains("x_fake_behavior");
          spec && spec->is_string()) {
        std::string error = ApplyBehaviorSpec(spec->get_string(), &b);
        if (!error.empty()) {
          co_return co_await SendJson(stream, req, 400, ErrorBody(400, "x_fake_behavior: " + error),
                                      true);
        }
      }
    }
  }

  if (b.drop || (b.drop_reused && index > 0)) {
    stats_.dropped.fetch_add(1);
    co_return false;
  }
  bool keep_alive = !b.close;

  if (!options_.api_key.empty()) {
    auto auth = req.find(http::field::authorization);
    if (auth == req.end() || auth->value() != "Bearer " + options_.api_key) {
      co_return co_await SendJson(
          stream, req, 401,
          ErrorBody(401,
                    "Incorrect API key provided. You can find your API key at "
                    "https://platform.openai.com/account/api-keys."),
          keep_alive);
    }
  }

  std::string key = b.key;
  if (key.empty()) {
    if (auto id = req.find("x-request-id"); id != req.end()) key = std::string(id->value());
  }
  uint64_t key_count;
  {
    std::lock_guard<std::mutex> lock(stats_.mu);
    key_count = ++stats_.key_requests[key];
  }
  int fail = b.status;
  if (fail == 0 && b.fail_first > 0 && key_count <= static_cast<uint64_t>(b.fail_first)) {
    fail = b.fail_status;
  }
  if (fail != 0) {
    stats_.injected_failures.fetch_add(1);
    co_return co_await SendJson(stream, req, fail, ErrorBody(fail, InjectedMessage(b, fail)),
                                keep_alive, b.retry_after_s);
  }

  if (path == "/v1/models" && req.method() == http::verb::get) {
    stats_.models.fetch_add(1);
    json::array data;
    for (const std::string& id : options_.models) {
      data.push_back(json::object{
          {"id", id}, {"object", "model"}, {"created", 1700000000}, {"owned_by", "fake"}});
    }
    json::object list{{"object", "list"}, {"data", std::move(data)}};
    co_return co_await SendJson(stream, req, 200, list, keep_alive);
  }
  bool known =
      path == "/v1/chat/completions" || path == "/v1/completions" || path == "/v1/embeddings";
  if (!known || req.method() != http::verb::post) {
    co_return co_await SendJson(stream, req, 404,
                                ErrorBody(404, "Invalid URL (" + std::string(req.method_string()) +
                                                   " " + std::string(path) + ")"),
                                keep_alive);
  }
  if (!body_ok) {
    co_return co_await SendJson(stream, req, 400,
                                ErrorBody(400, "We could not parse the JSON body of your request."),
                                keep_alive);
  }
  const json::value* model = body.if_contains("model");
  if (model == nullptr || !model->is_string() || model->get_string().empty()) {
    co_return co_await SendJson(stream, req, 400,
                                ErrorBody(400, "You must provide a model parameter."), keep_alive);
  }
  b.close = !keep_alive;
  if (path == "/v1/embeddings") co_return co_await Embed(stream, req, body, b);
  co_return co_await Generate(stream, req, body, b, path == "/v1/chat/completions");
}

template <typename Stream>
asio::awaitable<bool> Server::Generate(Stream& stream, const Request& req, const json::object& body,
                                       const Behavior& b, bool chat) {
  bool keep_alive = !b.close;
  int64_t prompt_tokens = 0;
  if (chat) {
    stats_.chat_completions.fetch_add(1);
    const json::value* messages = body.if_contains("messages");
    if (messages == nullptr || !messages->is_array() || messages->get_array().empty()) {
      co_return co_await SendJson(
          stream, req, 400, ErrorBody(400, "Missing required parameter: 'messages'."), keep_alive);
    }
    prompt_tokens = CountMessages(messages->get_array());
  } else {
    stats_.completions.fetch_add(1);
    const json::value* prompt = body.if_contains("prompt");
    if (prompt == nullptr) {
      co_return co_await SendJson(
          stream, req, 400, ErrorBody(400, "Missing required parameter: 'prompt'."), keep_alive);
    }
    prompt_tokens = CountPromptLike(*prompt);
  }
  int tokens = b.tokens;
  std::string finish_reason = "stop";
  for (const char* cap : {"max_completion_tokens", "max_tokens"}) {
    const json::value* v = body.if_contains(cap);
    if (v != nullptr && v->is_int64() && v->get_int64() >= 0 && v->get_int64() < tokens) {
      tokens = static_cast<int>(v->get_int64());
      finish_reason = "length";
    }
  }
  const std::string model(body.at("model").get_string());
  const bool stream_requested =
      body.contains("stream") && body.at("stream").is_bool() && body.at("stream").get_bool();
  bool include_usage = false;
  if (const json::value* so = body.if_contains("stream_options"); so && so->is_object()) {
    const json::value* iu = so->get_object().if_contains("include_usage");
    include_usage = iu != nullptr && iu->is_bool() && iu->get_bool();
  }
  const std::string id = (chat ? "chatcmpl-fake-" : "cmpl-fake-") + std::to_string(next_id_++);
  const int64_t created = static_cast<int64_t>(std::time(nullptr));
  const std::chrono::milliseconds token_delay(b.chunk_delay_ms >= 0 ? b.chunk_delay_ms
                                              : b.tokens_per_s > 0
                                                  ? static_cast<int64_t>(1000.0 / b.tokens_per_s)
                                                  : 0);
  json::object usage{{"prompt_tokens", prompt_tokens},
                     {"completion_tokens", tokens},
                     {"total_tokens", prompt_tokens + tokens}};

  if (!stream_requested) {
    co_await Sleep(std::chrono::milliseconds(b.ttft_ms) + token_delay * tokens);
    if (b.malformed) {
      co_return co_await SendRaw(stream, req, 200, "application/json", "{\"id\": \"broken",
                                 keep_alive, -1);
    }
    std::string text;
    for (int i = 0; i < tokens; ++i) text += TokenPiece(i);
    json::object choice;
    choice["index"] = 0;
    if (chat) {
      choice["message"] =
          json::object{{"role", "assistant"}, {"content", text}, {"refusal", nullptr}};
    } else {
      choice["text"] = text;
    }
    choice["logprobs"] = nullptr;
    choice["finish_reason"] = finish_reason;
    json::object out{{"id", id},
                     {"object", chat ? "chat.completion" : "text_completion"},
                     {"created", created},
                     {"model", model},
                     {"choices", json::array{std::move(choice)}},
                     {"system_fingerprint", "fp_fake"}};
    if (!b.omit_usage) out["usage"] = usage;
    co_return co_await SendJson(stream, req, 200, out, keep_alive);
  }

  http::response<http::empty_body> res{http::status::ok, req.version()};
  res.set(http::field::server, "fake_openai_upstream");
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache");
  if (auto rid = req.find("x-request-id"); rid != req.end()) res.set("x-request-id", rid->value());
  res.keep_alive(keep_alive && req.keep_alive());
  res.chunked(true);
  http::response_serializer<http::empty_body> serializer{res};
  {
    auto [ec, n] = co_await http::async_write_header(stream, serializer, kNoThrow);
    (void)n;
    if (ec) co_return false;
  }

  int written = 0;
  // Writes one SSE event as one HTTP chunk; false when the client is gone or the script says to
  // cut here (the connection is then closed without a last chunk).
  auto send = [&](std::string data) -> asio::awaitable<bool> {
    if (b.cut_after_chunks >= 0 && written >= b.cut_after_chunks) {
      stats_.cut_streams.fetch_add(1);
      CloseStream(stream);
      co_return false;
    }
    std::string event = "data: " + data + "\n\n";
    auto [ec, n] =
        co_await asio::async_write(stream, http::make_chunk(asio::buffer(event)), kNoThrow);
    (void)n;
    if (ec) {
      stats_.client_gone.fetch_add(1);
      co_return false;
    }
    ++written;
    co_return true;
  };
  auto chunk = [&](json::object delta_or_text, json::value finish) {
    json::object c;
    c["index"] = 0;
    if (chat) {
      c["delta"] = std::move(delta_or_text);
    } else {
      c["text"] = delta_or_text.contains("content") ? delta_or_text.at("content") : json::value("");
    }
    c["logprobs"] = nullptr;
    c["finish_reason"] = std::move(finish);
    json::object out{{"id", id},
                     {"object", chat ? "chat.completion.chunk" : "text_completion"},
                     {"created", created},
                     {"model", model},
                     {"system_fingerprint", "fp_fake"},
                     {"choices", json::array{std::move(c)}}};
    if (include_usage && !b.omit_usage) out["usage"] = nullptr;
    return json::serialize(out);
  };

  co_await Sleep(std::chrono::milliseconds(b.ttft_ms));
  std::vector<std::string> events;
  if (b.malformed) events.push_back("{\"id\": broken");
  if (chat) events.push_back(chunk(json::object{{"role", "assistant"}, {"content", ""}}, nullptr));
  for (int i = 0; i < tokens; ++i) {
    events.push_back(chunk(json::object{{"content", TokenPiece(i)}}, nullptr));
  }
  events.push_back(chunk(json::object{}, json::value(finish_reason)));
  if (include_usage && !b.omit_usage) {
    json::object u{{"id", id},
                   {"object", chat ? "chat.completion.chunk" : "text_completion"},
                   {"created", created},
                   {"model", model},
                   {"system_fingerprint", "fp_fake"},
                   {"choices", json::array{}},
                   {"usage", usage}};
    events.push_back(json::serialize(u));
  }
  if (!b.no_done) events.push_back("[DONE]");

  for (size_t i = 0; i < events.size(); ++i) {
    if (b.error_after_chunks >= 0 && static_cast<int>(i) == b.error_after_chunks) {
      if (!co_await send(json::serialize(ErrorBody(500, InjectedMessage(b, 500))))) {
        co_return false;
      }
      break;
    }
    // Pace the token events (the first event is sent right after the TTFT).
    if (i > 0 && events[i] != "[DONE]") co_await Sleep(token_delay);
    if (!co_await send(std::move(events[i]))) co_return false;
  }
  auto [ec, n] = co_await asio::async_write(stream, http::make_chunk_last(), kNoThrow);
  (void)n;
  if (ec) co_return false;
  stats_.completed_streams.fetch_add(1);
  co_return res.keep_alive();
}

template <typename Stream>
asio::awaitable<bool> Server::Embed(Stream& stream, const Request& req, const json::object& body,
                                    const Behavior& b) {
  stats_.embeddings.fetch_add(1);
  bool keep_alive = !b.close;
  const json::value* input = body.if_contains("input");
  if (input == nullptr) {
    co_return co_await SendJson(stream, req, 400,
                                ErrorBody(400, "Missing required parameter: 'input'."), keep_alive);
  }
  int dims = b.dims;
  if (const json::value* d = body.if_contains("dimensions"); d && d->is_int64()) {
    if (d->get_int64() < 1 || d->get_int64() > 65536) {
      co_return co_await SendJson(stream, req, 400,
                                  ErrorBody(400, "'dimensions' must be between 1 and 65536."),
                                  keep_alive);
    }
    dims = static_cast<int>(d->get_int64());
  }
  bool base64 = false;
  if (const json::value* f = body.if_contains("encoding_format"); f && f->is_string()) {
    base64 = f->get_string() == "base64";
  }
  // Each input as the text its vector is derived from (token arrays are serialised).
  std::vector<std::string> texts;
  if (const json::string* s = input->if_string()) {
    texts.emplace_back(*s);
  } else if (const json::array* a = input->if_array()) {
    bool all_numbers = !a->empty();
    for (const json::value& item : *a) all_numbers = all_numbers && item.is_number();
    if (all_numbers) {
      texts.push_back(json::serialize(*a));
    } else {
      for (const json::value& item : *a) {
        texts.push_back(item.is_string() ? std::string(item.get_string()) : json::serialize(item));
      }
    }
  }
  co_await Sleep(std::chrono::milliseconds(b.ttft_ms));
  if (b.malformed) {
    co_return co_await SendRaw(stream, req, 200, "application/json", "[1, 2", keep_alive, -1);
  }
  json::array data;
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<float> v = EmbeddingOf(texts[i], dims);
    json::value embedding;
    if (base64) {
      embedding =
          Base64(reinterpret_cast<const unsigned char*>(v.data()), v.size() * sizeof(float));
    } else {
      json::array values;
      for (float x : v) values.push_back(static_cast<double>(x));
      embedding = std::move(values);
    }
    data.push_back(json::object{{"object", "embedding"},
                                {"index", static_cast<int64_t>(i)},
                                {"embedding", std::move(embedding)}});
  }
  int64_t prompt_tokens = CountPromptLike(*input);
  json::object out{{"object", "list"}, {"data", std::move(data)}, {"model", body.at("model")}};
  if (!b.omit_usage) {
    out["usage"] = json::object{{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}};
  }
  co_return co_await SendJson(stream, req, 200, out, keep_alive);
}

json::object Server::StatsJson(std::string_view query) {
  json::object out{{"requests", stats_.requests.load()},
                   {"connections", stats_.connections.load()},
                   {"accepted", stats_.accepted.load()},
                   {"active_connections", stats_.active_connections.load()},
                   {"chat_completions", stats_.chat_completions.load()},
                   {"completions", stats_.completions.load()},
                   {"embeddings", stats_.embeddings.load()},
                   {"models", stats_.models.load()},
                   {"injected_failures", stats_.injected_failures.load()},
                   {"dropped", stats_.dropped.load()},
                   {"cut_streams", stats_.cut_streams.load()},
                   {"completed_streams", stats_.completed_streams.load()},
                   {"client_gone", stats_.client_gone.load()}};
  if (query.substr(0, 4) == "key=") {
    std::string key(query.substr(4));
    std::lock_guard<std::mutex> lock(stats_.mu);
    auto it = stats_.key_requests.find(key);
    out["key_requests"] = it == stats_.key_requests.end() ? 0 : it->second;
  }
  return out;
}

void Server::Reset() {
  for (std::atomic<uint64_t>* c :
       {&stats_.requests, &stats_.chat_completions, &stats_.completions, &stats_.embeddings,
        &stats_.models, &stats_.injected_failures, &stats_.dropped, &stats_.cut_streams,
        &stats_.completed_streams, &stats_.client_gone}) {
    c->store(0);
  }
  // Connections count from the reset; active ones stay as they are.
  stats_.connections.store(0);
  stats_.accepted.store(0);
  std::lock_guard<std::mutex> lock(stats_.mu);
  stats_.key_requests.clear();
}

}  // namespace
}  // namespace sobre::fake_upstream

int main(int argc, char** argv) {
  sobre::fake_upstream::ServerOptions options;
  bool help = false;
  std::string error = sobre::fake_upstream::ParseFlags(argc, argv, &options, &help);
  if (help) {
    std::fputs(sobre::fake_upstream::kUsage, stdout);
    return 0;
  }
  if (!error.empty()) {
    std::fprintf(stderr, "fake_openai_upstream: %s\n(see --help)\n", error.c_str());
    return 2;
  }
  // The one exception boundary of this program: Asio and Boost.JSON may throw (allocation, the
  // io_context itself); a test harness should see a message and an exit code, not an abort.
  try {
    return sobre::fake_upstream::Server(std::move(options)).Run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fake_openai_upstream: %s\n", e.what());
    return 1;
  }
}
