// The Store contract, run against both backends: SQLite (a file in a temp dir) and PostgreSQL (a
// cluster this test binary starts, see pg_cluster.h). This file: keys, URLs, bad input, secrets;
// store_budgets_test.cc and store_ledger_test.cc hold the rest of the same binary.
#include "store/store.h"

#include <unistd.h>

#include <random>
#include <regex>
#include <set>

#include "tests/store/store_test_fixture.h"

namespace sobre::store::test {
namespace {

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

// ---- Keys ----

TEST_P(StoreTest, CreatedKeyIsFoundByItsSecretOnly) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  NewKey spec;
  spec.name = "dev";
  spec.admin = true;
  spec.limits.tokens_per_day = 5000;
  spec.limits.co2e_g_per_month = 12.5;
  spec.limits.requests_per_minute = 60;
  auto created = store->CreateKey(spec);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  const auto& [key, secret] = *created;
  EXPECT_TRUE(std::regex_match(secret, std::regex("sk-sobre-[0-9A-Za-z]{32}"))) << secret;
  EXPECT_GT(key.id, 0);
  EXPECT_EQ(key.name, "dev");
  EXPECT_EQ(key.tenant, "dev");  // Defaults to the name.
  EXPECT_EQ(key.prefix, secret.substr(0, 13));
  EXPECT_TRUE(key.admin);
  EXPECT_FALSE(key.revoked);
  auto age = std::chrono::system_clock::now() - key.created;
  EXPECT_LT(std::chrono::abs(age), minutes(1));

  auto found = store->FindKeyBySecret(secret);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_TRUE(found->has_value());
  const ApiKey& k = **found;
  EXPECT_EQ(k.id, key.id);
  EXPECT_EQ(k.limits.tokens_per_day, 5000);
  EXPECT_EQ(k.limits.co2e_g_per_month, 12.5);
  EXPECT_EQ(k.limits.requests_per_minute, 60);
  EXPECT_FALSE(k.limits.tokens_per_month.has_value());
  EXPECT_FALSE(k.limits.wh_per_day.has_value());
  EXPECT_FALSE(k.limits.tokens_per_minute.has_value());

  auto wrong = store->FindKeyBySecret(secret.substr(0, secret.size() - 1) + "#");
  ASSERT_TRUE(wrong.ok());
  EXPECT_FALSE(wrong->has_value());
}

TEST_P(StoreTest, SecretsAreNeverStoredInClear) {
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    NewKey spec;
    spec.name = "generated";
    auto created = store->CreateKey(spec);
    ASSERT_TRUE(created.ok());
    spec.name = "declared";
    ASSERT_TRUE(store->UpsertKey(spec, "sk-declared-in-config-0123456789").ok());
    const std::string stored = StoredBytes();
    // The hashes are there (so the search does look at the stored keys), the secrets are not.
    EXPECT_NE(stored.find(HashSecret(created->second)), std::string::npos);
    EXPECT_NE(stored.find(HashSecret("sk-declared-in-config-0123456789")), std::string::npos);
    EXPECT_EQ(stored.find(created->second), std::string::npos);
    EXPECT_EQ(stored.find("sk-declared-in-config-0123456789"), std::string::npos);
    EXPECT_EQ(stored.find(created->second.substr(9)), std::string::npos);
  }
}

TEST_P(StoreTest, KeyNamesAreUnique) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  NewKey spec;
  spec.name = "team-a";
  ASSERT_TRUE(store->CreateKey(spec).ok());
  auto again = store->CreateKey(spec);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(again.status().message().find("team-a"), std::string::npos);
  spec.name = "";
  EXPECT_EQ(store->CreateKey(spec).status().code(), StatusCode::kInvalidArgument);
  spec.name = "negative";
  spec.limits.wh_per_day = -1;
  EXPECT_EQ(store->CreateKey(spec).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(StoreTest, ListRevokeAndCountLiveKeys) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->CountLiveKeys(), 0);
  EXPECT_EQ(*store->CountAllKeys(), 0);
  std::vector<std::string> secrets;
  for (const char* name : {"a", "b", "c"}) {
    NewKey spec;
    spec.name = name;
    spec.tenant = "org";
    auto created = store->CreateKey(spec);
    ASSERT_TRUE(created.ok());
    secrets.push_back(created->second);
  }
  EXPECT_EQ(*store->CountLiveKeys(), 3);
  ASSERT_TRUE(store->RevokeKey("b").ok());
  EXPECT_TRUE(store->RevokeKey("b").ok()) << "revoking twice is harmless";
  EXPECT_EQ(*store->CountLiveKeys(), 2);
  EXPECT_EQ(*store->CountAllKeys(), 3);  // Revoked keys still count: the gateway stays locked.

  auto keys = store->ListKeys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 3u);
  EXPECT_EQ((*keys)[0].name, "a");
  EXPECT_EQ((*keys)[1].name, "b");
  EXPECT_EQ((*keys)[2].name, "c");
  EXPECT_FALSE((*keys)[0].revoked);
  EXPECT_TRUE((*keys)[1].revoked);
  EXPECT_EQ((*keys)[2].tenant, "org");

  EXPECT_FALSE(store->FindKeyBySecret(secrets[1])->has_value());
  EXPECT_TRUE(store->FindKeyBySecret(secrets[2])->has_value());
  Status missing = store->RevokeKey("nobody");
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("nobody"), std::string::npos);
}

TEST_P(StoreTest, UpsertCreatesThenUpdatesDeclaredKeys) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  NewKey spec;
  spec.name = "cfg";
  spec.limits.wh_per_day = 10;
  auto first = store->UpsertKey(spec, "sk-sobre-configured-secret-one-aaaa");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->limits.wh_per_day, 10);
  EXPECT_EQ(first->prefix, "sk-sobre-conf");

  spec.tenant = "team";
  spec.limits.wh_per_day = 20;
  spec.limits.tokens_per_month = 1000;
  auto second = store->UpsertKey(spec, "sk-sobre-configured-secret-one-aaaa");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->id, first->id);
  EXPECT_EQ(second->created, first->created);
  EXPECT_EQ(second->tenant, "team");
  EXPECT_EQ(second->limits.wh_per_day, 20);
  EXPECT_EQ(second->limits.tokens_per_month, 1000);
  EXPECT_EQ(*store->CountLiveKeys(), 1);

  // A revocation survives a restart that upserts the same secret...
  ASSERT_TRUE(store->RevokeKey("cfg").ok());
  ASSERT_TRUE(store->UpsertKey(spec, "sk-sobre-configured-secret-one-aaaa").ok());
  EXPECT_FALSE(store->FindKeyBySecret("sk-sobre-configured-secret-one-aaaa")->has_value());
  // ...and a rotated secret makes the key live again, the old secret dead.
  auto rotated = store->UpsertKey(spec, "sk-sobre-configured-secret-two-bbbb");
  ASSERT_TRUE(rotated.ok());
  EXPECT_FALSE(rotated->revoked);
  EXPECT_FALSE(store->FindKeyBySecret("sk-sobre-configured-secret-one-aaaa")->has_value());
  auto found = store->FindKeyBySecret("sk-sobre-configured-secret-two-bbbb");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->id, first->id);

  // Short hand-written secrets show at most a quarter of themselves in listings.
  spec.name = "short";
  auto short_key = store->UpsertKey(spec, "password");
  ASSERT_TRUE(short_key.ok());
  EXPECT_EQ(short_key->prefix, "pa");

  NewKey other;
  other.name = "other";
  auto clash = store->UpsertKey(other, "sk-sobre-configured-secret-two-bbbb");
  EXPECT_EQ(clash.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(store->UpsertKey(other, "").status().code(), StatusCode::kInvalidArgument);
}

// ---- URLs and bad input ----

TEST(OpenStoreTest, UnknownSchemesAreNamed) {
  auto s = OpenStore("mysql://db/sobre");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(),
            "unknown store URL 'mysql://db/sobre': expected sqlite://... or postgres://...");
  EXPECT_EQ(OpenStore("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStore("/var/lib/sobre.db").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStore("sqlite://").status().code(), StatusCode::kInvalidArgument);
}

TEST(OpenStoreTest, SqliteInAMissingDirectoryNamesThePath) {
  TempDir dir;
  const std::string url = "sqlite://" + dir.path() + "/no/such/dir/sobre.db";
  auto s = OpenStore(url);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find(url), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("does not exist"), std::string::npos);
}

TEST(OpenStoreTest, ANonSqliteFileIsRefusedAndLeftAsItWas) {
  TempDir dir;
  const std::string path = dir.path() + "/notes.db";
  std::string garbage;
  std::mt19937 rng(7);
  for (int i = 0; i < 8192; ++i) garbage += static_cast<char>(rng() % 256);
  std::ofstream(path, std::ios::binary) << garbage;
  auto s = OpenStore("sqlite://" + path);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find(path), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("not a database"), std::string::npos) << s.status().message();
  EXPECT_EQ(ReadAll(path), garbage);
  EXPECT_EQ(::access((path + "-wal").c_str(), F_OK), -1);

  const std::string text_path = dir.path() + "/config.yaml";
  std::ofstream(text_path) << "listen: 0.0.0.0:8080\n";
  EXPECT_FALSE(OpenStore("sqlite://" + text_path).ok());
  EXPECT_EQ(ReadAll(text_path), "listen: 0.0.0.0:8080\n");
}

TEST(OpenStoreTest, SqliteRelativePathsAndWalMode) {
  TempDir dir;
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof(cwd)), nullptr);
  ASSERT_EQ(::chdir(dir.path().c_str()), 0);
  auto s = OpenStore("sqlite://relative.db");
  ASSERT_EQ(::chdir(cwd), 0);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  NewKey spec;
  spec.name = "x";
  ASSERT_TRUE((*s)->CreateKey(spec).ok());
  EXPECT_EQ(::access((dir.path() + "/relative.db").c_str(), F_OK), 0);
  EXPECT_EQ(::access((dir.path() + "/relative.db-wal").c_str(), F_OK), 0) << "WAL mode";
}

TEST(OpenStoreTest, InMemoryStoresAreSeparateAndComplete) {
  auto a = OpenStore("sqlite::memory:");
  auto b = OpenStore("sqlite::memory:");
  ASSERT_TRUE(a.ok() && b.ok());
  NewKey spec;
  spec.name = "mem";
  spec.limits.tokens_per_day = 5;
  auto created = (*a)->CreateKey(spec);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(*(*b)->CountLiveKeys(), 0);
  auto r = (*a)->Reserve(created->first, {6, 0, 0}, Utc(2024, 1, 1));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->granted);
  (*a)->Append(MakeRow(1, Utc(2024, 1, 1)));
  ASSERT_TRUE((*a)->Flush().ok());
  EXPECT_EQ((*a)->ReadLedger(Utc(2024, 1, 1), Utc(2024, 1, 2), 10)->size(), 1u);
}

TEST(OpenStoreTest, UnreachablePostgresNamesTheServerButNotThePassword) {
  const std::string url = "postgresql://sobre:hunter2@127.0.0.1:1/sobre?connect_timeout=5";
  auto s = OpenStore(url);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(s.status().message().find("postgresql://sobre:***@127.0.0.1:1/sobre"),
            std::string::npos)
      << s.status().message();
  EXPECT_EQ(s.status().message().find("hunter2"), std::string::npos) << s.status().message();
}

TEST(PostgresStoreTest, TcpUrlsAndMissingDatabases) {
  PgCluster& pg = PgCluster::Shared();
  ASSERT_TRUE(pg.ok()) << pg.error();
  std::string error;
  std::string db = pg.NewDatabase(&error);
  ASSERT_FALSE(db.empty()) << error;
  auto s = OpenStore(pg.TcpUrl(db));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  NewKey spec;
  spec.name = "tcp";
  EXPECT_TRUE((*s)->CreateKey(spec).ok());

  auto missing = OpenStore(pg.TcpUrl("no_such_database"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no_such_database"), std::string::npos)
      << missing.status().message();
}

// ---- Secrets ----

TEST(SecretTest, GeneratedSecretsAreBase62AndDistinct) {
  std::set<std::string> seen;
  std::set<char> chars;
  for (int i = 0; i < 2000; ++i) {
    std::string s = GenerateSecret();
    ASSERT_TRUE(std::regex_match(s, std::regex("sk-sobre-[0-9A-Za-z]{32}"))) << s;
    seen.insert(s);
    chars.insert(s.begin() + 9, s.end());
  }
  EXPECT_EQ(seen.size(), 2000u);
  EXPECT_EQ(chars.size(), 62u) << "64,000 draws reach every base62 character";
}

TEST(SecretTest, HashIsLowerCaseHexSha256) {
  EXPECT_EQ(HashSecret("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HashSecret(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace sobre::store::test
