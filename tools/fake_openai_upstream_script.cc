#include "tools/fake_openai_upstream_script.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <charconv>
#include <cmath>
#include <ctime>
#include <memory>

namespace sobre::fake_upstream {

namespace json = boost::json;

namespace {

bool ParseIntValue(std::string_view s, int* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool ParseDoubleValue(std::string_view s, double* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && std::isfinite(*out);
}

bool ParseBoolValue(std::string_view s, bool* out) {
  if (s.empty() || s == "1" || s == "true") {
    *out = true;
  } else if (s == "0" || s == "false") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

// Sets one behaviour field by name; accepts '-' or '_' in names. Returns an error or "".
std::string SetBehavior(std::string name, std::string_view value, Behavior* b) {
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  bool ok = true;
  if (name == "status" || name == "fail") {
    ok = ParseIntValue(value, &b->status);
  } else if (name == "fail_first") {
    ok = ParseIntValue(value, &b->fail_first);
  } else if (name == "fail_status") {
    ok = ParseIntValue(value, &b->fail_status);
  } else if (name == "retry_after") {
    ok = ParseDoubleValue(value, &b->retry_after_s);
  } else if (name == "cut" || name == "cut_after_chunks") {
    ok = ParseIntValue(value, &b->cut_after_chunks);
  } else if (name == "error_after" || name == "error_after_chunks") {
    ok = ParseIntValue(value, &b->error_after_chunks);
  } else if (name == "omit_usage") {
    ok = ParseBoolValue(value, &b->omit_usage);
  } else if (name == "ttft_ms") {
    ok = ParseIntValue(value, &b->ttft_ms);
  } else if (name == "tokens_per_s") {
    ok = ParseDoubleValue(value, &b->tokens_per_s);
  } else if (name == "chunk_delay_ms") {
    ok = ParseIntValue(value, &b->chunk_delay_ms);
  } else if (name == "tokens") {
    ok = ParseIntValue(value, &b->tokens) && b->tokens >= 0;
  } else if (name == "dims") {
    ok = ParseIntValue(value, &b->dims) && b->dims > 0;
  } else if (name == "drop") {
    ok = ParseBoolValue(value, &b->drop);
  } else if (name == "drop_reused") {
    ok = ParseBoolValue(value, &b->drop_reused);
  } else if (name == "close") {
    ok = ParseBoolValue(value, &b->close);
  } else if (name == "malformed") {
    ok = ParseBoolValue(value, &b->malformed);
  } else if (name == "no_done") {
    ok = ParseBoolValue(value, &b->no_done);
  } else if (name == "message") {
    b->message = std::string(value);
  } else if (name == "key") {
    b->key = std::string(value);
  } else {
    return "unknown behaviour '" + name + "'";
  }
  return ok ? "" : "bad value '" + std::string(value) + "' for '" + name + "'";
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(size));
}

}  // namespace

std::string ApplyBehaviorSpec(std::string_view spec, Behavior* b) {
  while (!spec.empty()) {
    size_t end = spec.find_first_of(";,");
    std::string_view item = TrimSpaces(spec.substr(0, end));
    spec = end == std::string_view::npos ? std::string_view() : spec.substr(end + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::string name(TrimSpaces(item.substr(0, eq)));
    std::string_view value = eq == std::string_view::npos ? "" : TrimSpaces(item.substr(eq + 1));
    std::string error = SetBehavior(name, value, b);
    if (!error.empty()) return error;
  }
  return "";
}

const char kUsage[] = R"(usage: fake_openai_upstream [flags]

A scripted OpenAI-compatible server for tests and benchmarks. Prints "listening HOST:PORT" on
stdout once bound. Endpoints: POST /v1/chat/completions, /v1/completions, /v1/embeddings,
GET /v1/models, GET /fake/stats[?key=K], POST /fake/reset.

Server flags:
  --host ADDR             address to bind (default 127.0.0.1)
  --port N                port; 0 picks a free one (default 0)
  --threads N             I/O threads (default 2)
  --api-key KEY           require "Authorization: Bearer KEY" (401 otherwise)
  --models A,B            ids listed by GET /v1/models (default fake-model)
  --tls-cert-out PATH     serve HTTPS with a new self-signed certificate for 127.0.0.1 and
                          localhost, written to PATH (PEM) for clients to trust
  --idle-timeout-ms N     close keep-alive connections idle this long (default 60000)

Behaviour flags (defaults for every request):
  --tokens N              completion length in tokens (default 16; max_tokens caps it)
  --ttft-ms N             delay before the first token / before a JSON answer
  --tokens-per-s X        pace of tokens (default: unpaced)
  --chunk-delay-ms N      fixed delay between stream events (overrides --tokens-per-s)
  --dims N                embedding dimensions (default 8)
  --fail-first N          answer the first N requests of each key with --fail-status
  --fail-status CODE      status for --fail-first (default 503)
  --status CODE           always fail with CODE and an OpenAI error body
  --retry-after S         send Retry-After: S with injected failures
  --cut-after-chunks K    close the connection after K stream events (no [DONE])
  --error-after-chunks K  after K events send data: {"error": ...} and end the stream
  --omit-usage            no usage in bodies, no usage chunk in streams
  --no-done               end streams without data: [DONE]
  --malformed             answer 200 with a body (or first stream event) that is not JSON
  --close                 answer with Connection: close
  --message TEXT          error message of injected failures

Per-request overrides: header "x-fake-behavior: fail_first=1;retry_after=1;cut=3" or the body
field "x_fake_behavior" with the same text. Names are the flags' without "--" ('-' or '_'),
plus fail=CODE (= status), cut=K, error_after=K, drop (close without answering), drop_reused
(drop only requests that reuse a keep-alive connection) and key=K (the fail_first counter's key;
default: the request's x-request-id).
)";

std::string ParseFlags(int argc, char** argv, ServerOptions* o, bool* help) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      *help = true;
      return "";
    }
    if (arg.substr(0, 2) != "--") return "unexpected argument '" + std::string(arg) + "'";
    arg.remove_prefix(2);
    std::string name(arg.substr(0, arg.find('=')));
    std::optional<std::string> value;
    if (size_t eq = arg.find('='); eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    }
    static const char* kBoolFlags[] = {"omit-usage", "no-done", "malformed", "close"};
    bool is_bool = false;
    for (const char* f : kBoolFlags) is_bool = is_bool || name == f;
    if (!value && !is_bool) {
      if (i + 1 >= argc) return "--" + name + " needs a value";
      value = argv[++i];
    }
    std::string v = value.value_or("");
    int n = 0;
    if (name == "host") {
      o->host = v;
    } else if (name == "port") {
      if (!ParseIntValue(v, &n) || n < 0 || n > 65535) return "bad --port";
      o->port = static_cast<uint16_t>(n);
    } else if (name == "threads") {
      if (!ParseIntValue(v, &o->threads) || o->threads < 1) return "bad --threads";
    } else if (name == "api-key") {
      o->api_key = v;
    } else if (name == "models") {
      o->models.clear();
      for (size_t start = 0; start <= v.size();) {
        size_t end = v.find(',', start);
        if (end == std::string::npos) end = v.size();
        if (end > start) o->models.push_back(v.substr(start, end - start));
        start = end + 1;
      }
    } else if (name == "tls-cert-out") {
      o->tls_cert_out = v;
    } else if (name == "idle-timeout-ms") {
      if (!ParseIntValue(v, &o->idle_timeout_ms) || o->idle_timeout_ms < 1) {
        return "bad --idle-timeout-ms";
      }
    } else {
      std::string error = SetBehavior(name, v, &o->defaults);
      if (!error.empty()) return "--" + name + ": " + error;
    }
  }
  return "";
}

int64_t CountWords(std::string_view text) {
  int64_t words = 0;
  bool in_word = false;
  for (char c : text) {
    bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

int64_t CountPromptLike(const json::value& v) {
  if (const json::string* s = v.if_string()) return CountWords(*s);
  int64_t n = 0;
  if (const json::array* a = v.if_array()) {
    for (const json::value& item : *a) {
      if (item.is_number()) {
        ++n;
      } else if (const json::string* s = item.if_string()) {
        n += CountWords(*s);
      } else if (const json::array* ids = item.if_array()) {
        n += static_cast<int64_t>(ids->size());
      }
    }
  }
  return n;
}

int64_t CountMessages(const json::array& messages) {
  int64_t n = 0;
  for (const json::value& m : messages) {
    const json::object* obj = m.if_object();
    if (obj == nullptr) continue;
    const json::value* content = obj->if_contains("content");
    if (content == nullptr) continue;
    if (const json::string* s = content->if_string()) {
      n += CountWords(*s);
    } else if (const json::array* parts = content->if_array()) {
      for (const json::value& part : *parts) {
        if (!part.is_object()) continue;
        if (const json::value* t = part.get_object().if_contains("text"); t && t->is_string()) {
          n += CountWords(t->get_string());
        }
      }
    }
  }
  return n;
}

std::string TokenPiece(int i) { return (i == 0 ? "token" : " token") + std::to_string(i); }

std::vector<float> EmbeddingOf(std::string_view text, int dims) {
  uint64_t state = Fnv1a(text);
  std::vector<float> v(static_cast<size_t>(dims));
  double norm = 0;
  for (float& x : v) {
    x = static_cast<float>(
        static_cast<double>(SplitMix64(&state) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    norm += static_cast<double>(x) * x;
  }
  norm = std::sqrt(norm);
  if (norm > 0) {
    for (float& x : v) x = static_cast<float>(x / norm);
  }
  return v;
}

std::string Base64(const unsigned char* data, size_t size) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < size; i += 3) {
    uint32_t n = static_cast<uint32_t>(data[i]) << 16;
    if (i + 1 < size) n |= static_cast<uint32_t>(data[i + 1]) << 8;
    if (i + 2 < size) n |= data[i + 2];
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < size ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back(i + 2 < size ? kAlphabet[n & 63] : '=');
  }
  return out;
}

json::object ErrorBody(int status, std::string message) {
  std::string type = "invalid_request_error";
  json::value code = nullptr;
  switch (status) {
    case 401: code = "invalid_api_key"; break;
    case 403: type = "permission_error"; break;
    case 404: code = "model_not_found"; break;
    case 429:
      type = "requests";
      code = "rate_limit_exceeded";
      break;
    default:
      if (status >= 500) type = "server_error";
  }
  json::object error;
  error["message"] = message;
  error["type"] = type;
  error["param"] = nullptr;
  error["code"] = code;
  json::object body;
  body["error"] = std::move(error);
  return body;
}

std::string InjectedMessage(const Behavior& b, int status) {
  if (!b.message.empty()) return b.message;
  return "fake upstream: injected HTTP " + std::to_string(status);
}

std::optional<PemPair> MakeSelfSignedCert() {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!key || !cert) return std::nullopt;
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), static_cast<long>(std::time(nullptr)));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7 * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  X509_EXTENSION* san =
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  if (san == nullptr) return std::nullopt;
  X509_add_ext(cert.get(), san, -1);
  X509_EXTENSION_free(san);
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return std::nullopt;

  std::unique_ptr<BIO, decltype(&BIO_free)> cert_bio(BIO_new(BIO_s_mem()), BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!PEM_write_bio_X509(cert_bio.get(), cert.get()) ||
      !PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr)) {
    return std::nullopt;
  }
  return PemPair{BioToString(cert_bio.get()), BioToString(key_bio.get())};
}

}  // namespace sobre::fake_upstream
