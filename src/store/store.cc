// OpenStore's URL dispatch and the secret helpers shared by both backends.
#include "store/store.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "store/postgres_store.h"
#include "store/sqlite_store.h"

namespace sobre::store {
namespace {

constexpr std::string_view kSecretHeader = "sk-sobre-";
constexpr size_t kSecretRandomChars = 32;
constexpr std::string_view kBase62 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// Fills `buf` from OpenSSL's CSPRNG, falling back to the kernel's. A key secret must never be
// guessable, so when neither source works the process stops rather than issue a weak one.
void RandomBytes(unsigned char* buf, size_t n) {
  if (RAND_bytes(buf, static_cast<int>(n)) == 1) return;
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::getrandom(buf + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      std::fputs("sobre: no source of secure random numbers; refusing to make a key secret\n",
                 stderr);
      std::abort();
    }
    got += static_cast<size_t>(r);
  }
}

}  // namespace

StatusOr<std::unique_ptr<Store>> OpenStore(std::string_view url, const StoreOptions& options) {
  const std::string text(url);
  if (text == "sqlite::memory:") {
    SOBRE_ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> s,
                           SqliteStore::Open(":memory:", text, options));
    return std::unique_ptr<Store>(std::move(s));
  }
  if (url.starts_with("sqlite://")) {
    // sqlite:///abs/path.db keeps the leading '/'; sqlite://relative.db is relative to the
    // working directory.
    std::string path(url.substr(9));
    if (path.empty() || path == "/") {
      return InvalidArgumentError("store URL '" + text + "' names no database file");
    }
    SOBRE_ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> s, SqliteStore::Open(path, text, options));
    return std::unique_ptr<Store>(std::move(s));
  }
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    SOBRE_ASSIGN_OR_RETURN(std::unique_ptr<PostgresStore> s, PostgresStore::Open(text, options));
    return std::unique_ptr<Store>(std::move(s));
  }
  return InvalidArgumentError("unknown store URL '" + text +
                              "': expected sqlite://... or postgres://...");
}

std::string GenerateSecret() {
  std::string secret(kSecretHeader);
  // Rejection sampling keeps every character equally likely: 248 = 4 * 62.
  unsigned char buf[64];
  while (secret.size() < kSecretHeader.size() + kSecretRandomChars) {
    RandomBytes(buf, sizeof(buf));
    for (unsigned char b : buf) {
      if (b >= 248) continue;
      secret += kBase62[b % 62];
      if (secret.size() == kSecretHeader.size() + kSecretRandomChars) break;
    }
  }
  return secret;
}

std::string HashSecret(std::string_view secret) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(secret.data(), secret.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    // SHA-256 cannot fail short of a broken OpenSSL; an empty hash matches no stored key.
    return {};
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

}  // namespace sobre::store
