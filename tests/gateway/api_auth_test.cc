// Authentication against a real (in-memory SQLite) store with a fake clock: open mode, bearer
// parsing, caching, and revocation taking effect when the cache entry expires.
#include "gateway/auth.h"

#include <gtest/gtest.h>

namespace sobre::gateway {
namespace {

using std::chrono::milliseconds;

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::OpenStore("sqlite::memory:");
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
  }

  std::string CreateKey(const std::string& name) {
    store::NewKey key;
    key.name = name;
    auto created = store_->CreateKey(key);
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    return created.ok() ? created->second : "";
  }

  FakeClock clock_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(AuthTest, OpenWhenNoKeyExistsAndNoneIsDeclared) {
  Authenticator auth(*store_, clock_, AuthOptions{});
  Caller caller;
  EXPECT_FALSE(auth.Authenticate("", caller).has_value());
  EXPECT_TRUE(caller.open());
}

TEST_F(AuthTest, DeclaredKeysCloseTheGatewayEvenBeforeTheyAreStored) {
  AuthOptions options;
  options.keys_declared = true;
  Authenticator auth(*store_, clock_, options);
  Caller caller;
  const auto error = auth.Authenticate("", caller);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->http_status(), 401);
  EXPECT_EQ(error->code(), "invalid_api_key");
}

TEST_F(AuthTest, BearerSecretsAreLookedUpAndWrongOnesRefused) {
  const std::string secret = CreateKey("dev");
  Authenticator auth(*store_, clock_, AuthOptions{});
  Caller caller;
  ASSERT_FALSE(auth.Authenticate("Bearer " + secret, caller).has_value());
  ASSERT_FALSE(caller.open());
  EXPECT_EQ(caller.key->name, "dev");
  EXPECT_FALSE(auth.Authenticate("bearer  " + secret + " ", caller).has_value());

  for (std::string header : {std::string(""), std::string("Bearer"), "Basic " + secret,
                             std::string("Bearer sk-sobre-wrong")}) {
    const auto error = auth.Authenticate(header, caller);
    ASSERT_TRUE(error.has_value()) << header;
    EXPECT_EQ(error->http_status(), 401);
    EXPECT_EQ(error->code(), "invalid_api_key");
    EXPECT_EQ(error->message.find(secret), std::string::npos);  // Never echo a secret.
  }
}

TEST_F(AuthTest, RevocationTakesEffectWhenTheCacheEntryExpires) {
  const std::string secret = CreateKey("dev");
  CreateKey("other");
  AuthOptions options;
  options.key_ttl = milliseconds(2000);
  Authenticator auth(*store_, clock_, options);
  Caller caller;
  ASSERT_FALSE(auth.Authenticate("Bearer " + secret, caller).has_value());
  ASSERT_TRUE(store_->RevokeKey("dev").ok());
  clock_.Advance(milliseconds(1000));
  // Still cached: no database read on the hot path.
  EXPECT_FALSE(auth.Authenticate("Bearer " + secret, caller).has_value());
  clock_.Advance(milliseconds(1001));
  const auto error = auth.Authenticate("Bearer " + secret, caller);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->http_status(), 401);
}

TEST_F(AuthTest, AKeyCreatedWhileOpenClosesTheGatewayWithinTheCountTtl) {
  AuthOptions options;
  options.live_count_ttl = milliseconds(2000);
  Authenticator auth(*store_, clock_, options);
  Caller caller;
  ASSERT_FALSE(auth.Authenticate("", caller).has_value());
  CreateKey("first");
  clock_.Advance(milliseconds(2000));
  EXPECT_TRUE(auth.Authenticate("", caller).has_value());
}

TEST_F(AuthTest, RevokingTheLastKeyLocksTheGatewayInsteadOfReopeningIt) {
  const std::string secret = CreateKey("only");
  AuthOptions options;
  options.key_ttl = milliseconds(2000);
  options.live_count_ttl = milliseconds(2000);
  Authenticator auth(*store_, clock_, options);
  Caller caller;
  ASSERT_FALSE(auth.Authenticate("Bearer " + secret, caller).has_value());
  ASSERT_TRUE(store_->RevokeKey("only").ok());
  clock_.Advance(milliseconds(2001));
  EXPECT_TRUE(auth.Authenticate("", caller).has_value()) << "no key: refused, not open";
  const auto error = auth.Authenticate("Bearer " + secret, caller);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->http_status(), 401);
}

}  // namespace
}  // namespace sobre::gateway
