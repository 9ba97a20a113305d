// The script of fake_openai_upstream: what each request should get (flags and per-request
// overrides), the deterministic content it answers with, and its self-signed TLS certificate.
// The HTTP server itself is in fake_openai_upstream.cc.
#ifndef SOBRE_TOOLS_FAKE_OPENAI_UPSTREAM_SCRIPT_H_
#define SOBRE_TOOLS_FAKE_OPENAI_UPSTREAM_SCRIPT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace sobre::fake_upstream {

// What to do with one request. Flags set the defaults; a request may override any field.
struct Behavior {
  int status = 0;               // Always fail with this HTTP status; 0: succeed.
  int fail_first = 0;           // Fail the first N requests of a key with fail_status.
  int fail_status = 503;        // Status used by fail_first.
  double retry_after_s = -1;    // Retry-After on injected failures, in seconds; < 0: none.
  int cut_after_chunks = -1;    // Close the connection after K stream events; < 0: never.
  int error_after_chunks = -1;  // Send a data: {"error": ...} event after K events, then end.
  bool omit_usage = false;      // No usage in bodies nor a usage chunk in streams.
  int ttft_ms = 0;              // Delay before the first token (for JSON: before the response).
  double tokens_per_s = 0;      // Pace of tokens; 0: as fast as possible.
  int chunk_delay_ms = -1;      // Fixed delay between stream events; overrides tokens_per_s.
  int tokens = 16;              // Completion length in tokens (capped by max_tokens).
  int dims = 8;                 // Embedding dimensions (a request's "dimensions" wins).
  bool drop = false;            // Close the connection without answering.
  bool drop_reused = false;     // Drop only requests that reuse a keep-alive connection.
  bool close = false;           // Answer with Connection: close.
  bool malformed = false;       // 200 with a body (or a first stream event) that is not JSON.
  bool no_done = false;         // End the stream cleanly but without data: [DONE].
  std::string message;          // Error message of injected failures.
  std::string key;              // Counter key for fail_first; default: the x-request-id header.
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  int threads = 2;
  std::string api_key;  // Required as a Bearer token when set.
  std::vector<std::string> models = {"fake-model"};
  std::string tls_cert_out;  // Serve HTTPS with a fresh self-signed certificate.
  int idle_timeout_ms = 60000;
  Behavior defaults;
};

// --help text.
extern const char kUsage[];

// Parses argv into *o (behaviour flags into o->defaults). Returns an error or "".
std::string ParseFlags(int argc, char** argv, ServerOptions* o, bool* help);

// Applies "fail_first=2; retry_after=1; omit_usage" to *b. Returns an error or "".
std::string ApplyBehaviorSpec(std::string_view spec, Behavior* b);

// Whitespace-separated words: the fake's notion of tokens. In a text, in a "prompt"/"input"
// value (token arrays count their length), and in chat messages' text content.
int64_t CountWords(std::string_view text);
int64_t CountPromptLike(const boost::json::value& v);
int64_t CountMessages(const boost::json::array& messages);

// Token i of every completion: "token0", " token1", " token2"... (one word each).
std::string TokenPiece(int i);

// A unit vector of `dims` floats that depends only on the text.
std::vector<float> EmbeddingOf(std::string_view text, int dims);
std::string Base64(const unsigned char* data, size_t size);

// {"error": {"message", "type", "param", "code"}} as OpenAI sends for `status`.
boost::json::object ErrorBody(int status, std::string message);
// The message of an injected failure: Behavior::message or a default naming the status.
std::string InjectedMessage(const Behavior& b, int status);

struct PemPair {
  std::string cert;
  std::string key;
};
// A self-signed P-256 certificate for localhost and 127.0.0.1, valid for a week.
std::optional<PemPair> MakeSelfSignedCert();

}  // namespace sobre::fake_upstream

#endif  // SOBRE_TOOLS_FAKE_OPENAI_UPSTREAM_SCRIPT_H_
