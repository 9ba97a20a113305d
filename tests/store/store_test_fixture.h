// Shared by the Store behaviour tests: a fixture parameterized over both backends (a SQLite file
// in a temp dir, a fresh database in the PostgreSQL cluster this binary starts) and helpers.
#ifndef SOBRE_TESTS_STORE_STORE_TEST_FIXTURE_H_
#define SOBRE_TESTS_STORE_STORE_TEST_FIXTURE_H_

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>

#include "store/store.h"
#include "tests/store/pg_cluster.h"

namespace sobre::store::test {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using testing::PgCluster;

inline TimePoint Utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
  return std::chrono::sys_days(std::chrono::year(y) / m / d) + hours(hh) + minutes(mm) +
         seconds(ss);
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A temp dir removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/sobre_store_test_XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    if (!path_.empty()) std::system(("rm -rf " + path_).c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline LedgerRow MakeRow(int i, TimePoint time) {
  LedgerRow r;
  r.time = time;
  r.request_id = "req-" + std::to_string(i);
  r.key_name = i % 2 ? "team-a" : "";
  r.tenant = "tenant-" + std::to_string(i % 3);
  r.model = "qwen2.5-0.5b";
  r.backend = "embedded";
  r.endpoint = "chat.completions";
  r.prompt_tokens = 100 + i;
  r.completion_tokens = 7 * i;
  r.latency_ms = 12.5 + i;
  r.ttft_ms = 3.25;
  r.overhead_ms = 0.125;
  r.energy_wh = 0.001 * i + 0.1;
  r.co2e_g = 0.0421 * i;
  r.water_ml = 1.5;
  r.embodied_co2e_g = 0.003;
  r.method = i % 2 ? "measured" : "estimated";
  r.cache_status = "MISS";
  r.http_status = i % 5 == 0 ? 429 : 200;
  r.error_code = i % 5 == 0 ? "rate_limit_exceeded" : "";
  r.avoided_energy_wh = i % 4 == 0 ? 0.05 * i : 0;
  r.avoided_co2e_g = i % 4 == 0 ? 0.002 * i : 0;
  return r;
}

inline void ExpectSameRow(const LedgerRow& a, const LedgerRow& b) {
  EXPECT_EQ(a.time, b.time);
  EXPECT_EQ(a.avoided_energy_wh, b.avoided_energy_wh);
  EXPECT_EQ(a.avoided_co2e_g, b.avoided_co2e_g);
  EXPECT_EQ(a.request_id, b.request_id);
  EXPECT_EQ(a.key_name, b.key_name);
  EXPECT_EQ(a.tenant, b.tenant);
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.backend, b.backend);
  EXPECT_EQ(a.endpoint, b.endpoint);
  EXPECT_EQ(a.prompt_tokens, b.prompt_tokens);
  EXPECT_EQ(a.completion_tokens, b.completion_tokens);
  EXPECT_EQ(a.latency_ms, b.latency_ms);
  EXPECT_EQ(a.ttft_ms, b.ttft_ms);
  EXPECT_EQ(a.overhead_ms, b.overhead_ms);
  EXPECT_EQ(a.energy_wh, b.energy_wh);
  EXPECT_EQ(a.co2e_g, b.co2e_g);
  EXPECT_EQ(a.water_ml, b.water_ml);
  EXPECT_EQ(a.embodied_co2e_g, b.embodied_co2e_g);
  EXPECT_EQ(a.method, b.method);
  EXPECT_EQ(a.cache_status, b.cache_status);
  EXPECT_EQ(a.http_status, b.http_status);
  EXPECT_EQ(a.error_code, b.error_code);
}

enum class Backend { kSqlite, kPostgres };

inline void PrintTo(Backend b, std::ostream* os) {
  *os << (b == Backend::kSqlite ? "sqlite" : "postgres");
}

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kSqlite) {
      ASSERT_FALSE(dir_.path().empty());
      path_ = dir_.path() + "/sobre.db";
      url_ = "sqlite://" + path_;
    } else {
      PgCluster& pg = PgCluster::Shared();
      ASSERT_TRUE(pg.ok()) << pg.error();
      std::string error;
      db_ = pg.NewDatabase(&error);
      ASSERT_FALSE(db_.empty()) << error;
      url_ = pg.Url(db_);
    }
  }

  std::unique_ptr<Store> Open(const StoreOptions& options = {}) {
    auto store = OpenStore(url_, options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // Everything the database holds on disk (SQLite: the file and its WAL) or as data (PostgreSQL:
  // pg_dump), to look for strings that must or must not be stored.
  std::string StoredBytes() {
    if (GetParam() == Backend::kSqlite) return ReadAll(path_) + ReadAll(path_ + "-wal");
    std::string out;
    EXPECT_TRUE(PgCluster::Shared().Dump(db_, &out)) << out;
    return out;
  }

  // Runs `sql` directly against the database; returns the first column of the first row.
  std::string Raw(const std::string& sql) {
    if (GetParam() == Backend::kPostgres) {
      std::string out;
      EXPECT_TRUE(PgCluster::Shared().Query(db_, sql, &out)) << sql << ": " << out;
      while (!out.empty() && out.back() == '\n') out.pop_back();
      return out.substr(0, out.find('\n'));
    }
    sqlite3* db = nullptr;
    std::string first;
    if (sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
      sqlite3_busy_timeout(db, 5000);
      char* error = nullptr;
      auto callback = [](void* arg, int n, char** values, char**) {
        auto* out = static_cast<std::string*>(arg);
        if (out->empty() && n > 0 && values[0] != nullptr) *out = values[0];
        return 0;
      };
      int rc = sqlite3_exec(db, sql.c_str(), callback, &first, &error);
      EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (error ? error : "");
      sqlite3_free(error);
    }
    sqlite3_close_v2(db);
    return first;
  }

  ApiKey MakeKey(Store& store, const std::string& name, const Limits& limits = {}) {
    NewKey spec;
    spec.name = name;
    spec.limits = limits;
    auto created = store.CreateKey(spec);
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    return created.ok() ? created->first : ApiKey{};
  }

  TempDir dir_;
  std::string path_;  // SQLite only.
  std::string db_;    // PostgreSQL only.
  std::string url_;
};

inline std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "sqlite" : "postgres";
}

}  // namespace sobre::store::test

#endif  // SOBRE_TESTS_STORE_STORE_TEST_FIXTURE_H_
