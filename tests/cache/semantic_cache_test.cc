// SemanticCache over an ExactCache and a store: paraphrase hits, guards, tenant and context
// scopes, and an index that follows the exact cache through eviction, expiry, purge and restart.
#include "cache/semantic_cache.h"

#include <gtest/gtest.h>

#include "cache/semantic_scope.h"
#include "core/clock.h"
#include "tests/cli/cli_runner.h"

namespace sobre::cache {
namespace {

using sobre::testing::TempDir;

class SemanticCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::OpenStore("sqlite://" + dir_.path() + "/sobre.db");
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
    Open();
  }

  void Open(ExactCacheOptions exact_options = {}) {
    semantic_.reset();
    exact_.reset();
    auto exact = ExactCache::Open(store_.get(), exact_options, clock_.WallNow());
    ASSERT_TRUE(exact.ok()) << exact.status().ToString();
    exact_ = std::move(exact).value();
    auto semantic = SemanticCache::Open(exact_.get(), &embedder_, {});
    ASSERT_TRUE(semantic.ok()) << semantic.status().ToString();
    semantic_ = std::move(semantic).value();
  }

  // Stores an answer to `question` as the gateway does; returns the entry id.
  std::string Store(const std::string& question, const std::string& answer,
                    const std::string& tenant = "acme", const std::string& context = "c1") {
    ExactCacheEntry e;
    e.key = "key:" + tenant + ":" + context + ":" + question;
    e.tenant = tenant;
    e.model = "small";
    e.endpoint = "chat.completions";
    e.body = answer;
    e.energy_wh = 0.2;
    e.co2e_g = 0.05;
    e.method = "estimated";
    e.semantic_scope = SemanticScope(tenant, "small", context);
    e.query_text = question;
    e.embedder = embedder_.name();
    auto v = embedder_.Embed(question);
    EXPECT_TRUE(v.ok());
    e.embedding = *v;
    ExactCacheEntry indexed = e;
    std::optional<std::string> id = exact_->Put(std::move(e), clock_.WallNow());
    EXPECT_TRUE(id.has_value());
    indexed.id = *id;
    EXPECT_TRUE(semantic_->Add(indexed).ok());
    return *id;
  }

  std::optional<SemanticHit> Ask(const std::string& question, const std::string& tenant = "acme",
                                 const std::string& context = "c1") {
    auto v = embedder_.Embed(question);
    EXPECT_TRUE(v.ok());
    return semantic_->Lookup(tenant, SemanticScope(tenant, "small", context), question, *v,
                             clock_.WallNow());
  }

  FakeClock clock_{std::chrono::sys_days(std::chrono::year(2025) / 3 / 1)};
  TempDir dir_;
  FrugalEmbedder embedder_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ExactCache> exact_;
  std::unique_ptr<SemanticCache> semantic_;
};

TEST_F(SemanticCacheTest, AParaphraseFindsTheStoredAnswer) {
  Store("How do I reverse a list in Python?", "use reversed() or list.reverse()");
  std::optional<SemanticHit> hit = Ask("how can i reverse a list in python");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->entry.body, "use reversed() or list.reverse()");
  EXPECT_GE(hit->similarity, semantic_->threshold());
  EXPECT_LE(hit->similarity, 1.0001);
  EXPECT_EQ(semantic_->Stats().hits, 1u);
  EXPECT_EQ(exact_->Stats().hits, 1u);  // The hit counts its avoided footprint there too.
  EXPECT_DOUBLE_EQ(exact_->Stats().avoided_energy_wh, 0.2);
}

TEST_F(SemanticCacheTest, UnrelatedQuestionsAndGuardedNearMissesAreMisses) {
  Store("How do I reverse a list in Python?", "reversed");
  Store("What is 3 plus 4?", "7");
  EXPECT_FALSE(Ask("What is the capital of France?").has_value());
  // Embeddings put these close; the numbers guard refuses.
  EXPECT_FALSE(Ask("What is 3 plus 5?").has_value());
  EXPECT_TRUE(Ask("what is 3 plus 4").has_value());
}

TEST_F(SemanticCacheTest, NeitherAnotherTenantNorAnotherContextSeesAnEntry) {
  Store("How do I reverse a list in Python?", "reversed", "acme", "c1");
  EXPECT_FALSE(Ask("How do I reverse a list in Python?", "globex", "c1").has_value());
  EXPECT_FALSE(Ask("How do I reverse a list in Python?", "acme", "c2").has_value());
  EXPECT_TRUE(Ask("How do I reverse a list in Python?", "acme", "c1").has_value());
}

TEST_F(SemanticCacheTest, EntriesLeavingTheExactCacheLeaveTheIndex) {
  Store("How do I reverse a list in Python?", "reversed");
  Store("How do I sort a dictionary by value?", "sorted(d.items(), key=...)", "globex");
  ASSERT_EQ(semantic_->Stats().entries, 2u);
  ASSERT_TRUE(exact_->Purge(std::string("acme"), std::nullopt).ok());
  EXPECT_EQ(semantic_->Stats().entries, 1u);
  EXPECT_FALSE(Ask("How do I reverse a list in Python?").has_value());

  // Expiry: past the TTL the exact cache drops the entry when it is next touched.
  clock_.Advance(std::chrono::hours(25));
  EXPECT_FALSE(Ask("How do I sort a dictionary by value?", "globex").has_value());
  EXPECT_EQ(semantic_->Stats().entries, 0u);
}

TEST_F(SemanticCacheTest, EvictionByTheExactCachesByteBoundLeavesTheIndexInStep) {
  ExactCacheOptions small;
  small.max_bytes = 12'000;  // Room for a few entries with their 384-float vectors.
  Open(small);
  for (int i = 0; i < 20; ++i) {
    Store("question number " + std::string(1, static_cast<char>('a' + i)) + " about topic " +
              std::to_string(i * 7919),
          "answer");
  }
  const size_t held = exact_->Stats().entries;
  EXPECT_LT(held, 20u);
  EXPECT_EQ(semantic_->Stats().entries, held);
}

TEST_F(SemanticCacheTest, TheIndexIsRebuiltFromTheStoreAfterARestart) {
  Store("How do I reverse a list in Python?", "reversed");
  ASSERT_TRUE(exact_->Flush().ok());
  Open();  // A new process: exact cache loaded from the store, index rebuilt from it.
  EXPECT_EQ(semantic_->Stats().entries, 1u);
  std::optional<SemanticHit> hit = Ask("how can i reverse a list in python");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->entry.body, "reversed");
}

TEST_F(SemanticCacheTest, ARebuildPastTheIndexBoundKeepsTheNewestEntries) {
  for (int i = 0; i < 6; ++i) {
    Store("How do I parse " + std::string(1, static_cast<char>('a' + i)) + " files in Go?", "x");
    clock_.Advance(std::chrono::seconds(1));
  }
  ASSERT_TRUE(exact_->Flush().ok());
  semantic_.reset();
  exact_.reset();
  auto exact = ExactCache::Open(store_.get(), {}, clock_.WallNow());
  ASSERT_TRUE(exact.ok());
  exact_ = std::move(exact).value();
  SemanticCacheOptions bounded;
  bounded.max_entries = 4;
  auto semantic = SemanticCache::Open(exact_.get(), &embedder_, bounded);
  ASSERT_TRUE(semantic.ok()) << semantic.status().ToString();
  semantic_ = std::move(semantic).value();
  EXPECT_EQ(semantic_->Stats().entries, 4u);
  EXPECT_EQ(exact_->Stats().entries, 6u);  // The two oldest stay exact-only.
  EXPECT_TRUE(Ask("How do I parse f files in Go?").has_value());
  EXPECT_FALSE(Ask("How do I parse a files in Go?").has_value());
}

TEST_F(SemanticCacheTest, EntriesOfAnotherEmbedderStayExactOnly) {
  ExactCacheEntry e;
  e.key = "k";
  e.tenant = "acme";
  e.model = "small";
  e.endpoint = "chat.completions";
  e.body = "x";
  e.semantic_scope = SemanticScope("acme", "small", "c1");
  e.query_text = "How do I reverse a list in Python?";
  e.embedder = "backend:elsewhere:e5";
  e.embedding = std::vector<float>(768, 0.036f);
  ASSERT_TRUE(exact_->Put(std::move(e), clock_.WallNow()).has_value());
  ASSERT_TRUE(exact_->Flush().ok());
  Open();
  EXPECT_EQ(semantic_->Stats().entries, 0u);
  EXPECT_EQ(exact_->Stats().entries, 1u);
}

}  // namespace
}  // namespace sobre::cache
