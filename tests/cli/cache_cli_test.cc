// `sobre cache stats | purge` on a real store file, through the real binary.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "store/store.h"
#include "tests/cli/cli_runner.h"

namespace sobre::cli {
namespace {

namespace json = boost::json;
using sobre::testing::CliResult;
using sobre::testing::RunSobre;
using sobre::testing::TempDir;

store::CacheEntryRecord Entry(std::string id, std::string tenant, std::string model,
                              bool semantic) {
  store::CacheEntryRecord e;
  e.id = id;
  e.key = "key-" + id;
  e.tenant = std::move(tenant);
  e.model = std::move(model);
  e.endpoint = "chat.completions";
  e.created = std::chrono::system_clock::now();
  e.expires = e.created + std::chrono::hours(1);
  e.body = "{\"choices\":[]}";
  e.energy_wh = 0.25;
  e.method = "estimated";
  if (semantic) {
    e.semantic_scope = "scope";
    e.query_text = "question " + id;
    e.embedder = "frugal-v1-384";
    e.embedding = std::vector<float>(384, 0.05f);
  }
  return e;
}

class CacheCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = "sqlite://" + dir_.path() + "/sobre.db";
    auto opened = store::OpenStore(url_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    auto& s = *opened;
    store::NewKey key;
    key.name = "team-a";
    key.tenant = "acme";
    ASSERT_TRUE(s->CreateKey(key).ok());
    ASSERT_TRUE(s->PutCacheEntry(Entry("1", "acme", "small", true)).ok());
    ASSERT_TRUE(s->PutCacheEntry(Entry("2", "acme", "large", false)).ok());
    ASSERT_TRUE(s->PutCacheEntry(Entry("3", "globex", "small", false)).ok());
    store::LedgerRow hit;
    hit.time = std::chrono::system_clock::now();
    hit.request_id = "r1";
    hit.model = "small";
    hit.cache_status = "semantic; similarity=0.93";
    hit.avoided_energy_wh = 0.25;
    hit.avoided_co2e_g = 0.1;
    s->Append(hit);
    store::LedgerRow miss = hit;
    miss.request_id = "r2";
    miss.cache_status = "miss";
    miss.avoided_energy_wh = 0;
    miss.avoided_co2e_g = 0;
    s->Append(miss);
    ASSERT_TRUE(s->Flush().ok());
  }

  TempDir dir_;
  std::string url_;
};

TEST_F(CacheCliTest, StatsCountEntriesByModelAndHitsFromTheLedger) {
  CliResult r = RunSobre(dir_, "cache stats --json --store " + url_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json::value v = json::parse(r.out);
  EXPECT_EQ(v.at("entries").at("small").at("entries").to_number<int64_t>(), 2);
  EXPECT_EQ(v.at("entries").at("small").at("semantic_entries").to_number<int64_t>(), 1);
  EXPECT_EQ(v.at("entries").at("large").at("entries").to_number<int64_t>(), 1);
  EXPECT_EQ(v.at("ledger").at("semantic").to_number<int64_t>(), 1);
  EXPECT_DOUBLE_EQ(v.at("ledger").at("hit_ratio").to_number<double>(), 0.5);
  EXPECT_DOUBLE_EQ(v.at("ledger").at("avoided_energy_wh").to_number<double>(), 0.25);

  r = RunSobre(dir_, "cache stats --store " + url_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("hit ratio  50.0%"), std::string::npos) << r.out;
}

TEST_F(CacheCliTest, PurgeByKeyModelOrAllAndRefusesAnEmptyFilter) {
  CliResult r = RunSobre(dir_, "cache purge --store " + url_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--key K, --model M, or --all"), std::string::npos) << r.err;
  r = RunSobre(dir_, "cache purge --key nobody --store " + url_);
  EXPECT_EQ(r.exit_code, 2) << r.err;

  r = RunSobre(dir_, "cache purge --key team-a --model small --store " + url_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1\n");  // acme's small entry only.
  r = RunSobre(dir_, "cache purge --model small --store " + url_);
  EXPECT_EQ(r.out, "1\n");  // globex's.
  r = RunSobre(dir_, "cache purge --all --store " + url_);
  EXPECT_EQ(r.out, "1\n");  // acme's large one.
  r = RunSobre(dir_, "cache stats --json --store " + url_);
  EXPECT_TRUE(json::parse(r.out).at("entries").as_object().empty()) << r.out;
}

}  // namespace
}  // namespace sobre::cli
