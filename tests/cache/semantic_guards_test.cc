#include "cache/guards.h"

#include <gtest/gtest.h>

namespace sobre::cache {
namespace {

TEST(SemanticGuardsTest, ExtractsAndNormalisesNumbers) {
  EXPECT_EQ(ExtractNumbers("Three items at 2.50 each, 10% off"),
            (std::vector<std::string>{"10%", "2.5", "3"}));
  EXPECT_EQ(ExtractNumbers("ten percent of 1,000"), (std::vector<std::string>{"10%", "1000"}));
  EXPECT_EQ(ExtractNumbers("no numbers here"), std::vector<std::string>{});
}

TEST(SemanticGuardsTest, RejectsDifferentNumbers) {
  std::string reason;
  EXPECT_FALSE(GuardsAllow("Cancel my order within 3 days", "Cancel my order within 30 days", &reason));
  EXPECT_NE(reason.find("numbers differ"), std::string::npos) << reason;
  EXPECT_FALSE(GuardsAllow("What is 12 times 7?", "What is 12 times 8?", &reason));
  EXPECT_FALSE(GuardsAllow("Give me 5 ideas for dinner", "Give me 5 ideas for dinner, 5 more", &reason));
  EXPECT_FALSE(GuardsAllow("Is a 5% fee fair?", "Is a 5 fee fair?", &reason));
}

TEST(SemanticGuardsTest, AcceptsTheSameNumbersWrittenDifferently) {
  std::string reason;
  EXPECT_TRUE(GuardsAllow("Give me three ideas for dinner", "Give me 3 ideas for dinner", &reason))
      << reason;
  EXPECT_TRUE(GuardsAllow("What is 2.50 plus 10 percent?", "what is 2.5 plus 10%", &reason)) << reason;
}

TEST(SemanticGuardsTest, RejectsNegationOnOneSideOnly) {
  std::string reason;
  EXPECT_FALSE(GuardsAllow("Should I restart the server?", "Should I not restart the server?", &reason));
  EXPECT_NE(reason.find("negation"), std::string::npos) << reason;
  EXPECT_FALSE(GuardsAllow("Why does my code compile?", "Why doesn't my code compile?", &reason));
  EXPECT_FALSE(GuardsAllow("Why does my code compile?", "Why doesn’t my code compile?", &reason));
  EXPECT_FALSE(GuardsAllow("Make a cake with sugar", "Make a cake without sugar", &reason));
  EXPECT_FALSE(GuardsAllow("Is it ever safe to mix them?", "Is it never safe to mix them?", &reason));
}

TEST(SemanticGuardsTest, AcceptsNegationOnBothSides) {
  std::string reason;
  EXPECT_TRUE(GuardsAllow("Why doesn't my code compile?", "Why does my code not compile?", &reason))
      << reason;
}

TEST(SemanticGuardsTest, RejectsLowContentOverlap) {
  std::string reason;
  EXPECT_FALSE(GuardsAllow("How do I delete this branch?", "How do I delete this repo?", &reason));
  EXPECT_NE(reason.find("overlap"), std::string::npos) << reason;
  EXPECT_FALSE(GuardsAllow("How do I cancel my subscription?", "How do I pause my subscription?", &reason));
  EXPECT_FALSE(GuardsAllow("What is the capital of France?", "hello", &reason));
}

TEST(SemanticGuardsTest, AcceptsParaphrases) {
  std::string reason;
  EXPECT_TRUE(GuardsAllow("How do I reset my password?", "How can I reset my password", &reason))
      << reason;
  EXPECT_TRUE(GuardsAllow("What is the capital of France?", "What's France's capital city?", &reason))
      << reason;
  EXPECT_TRUE(GuardsAllow("Explain how photosynthesis works", "explain how PHOTOSYNTHESIS works!",
                          &reason))
      << reason;
  EXPECT_TRUE(GuardsAllow("Translate these sentences", "Translate this sentence", &reason)) << reason;
  EXPECT_TRUE(GuardsAllow("Hi", "Hello", nullptr) == false);  // No shared content word.
}

TEST(SemanticGuardsTest, OverlapFloorIsAnOption) {
  GuardOptions lax;
  lax.min_content_overlap = 0.3;
  EXPECT_TRUE(GuardsAllow("How do I delete this branch?", "How do I delete this repo?", nullptr, lax));
}

TEST(SemanticGuardsTest, TokenizesUtf8AndApostrophes) {
  EXPECT_EQ(WordTokens("Où est l’hôtel? 'quoted' 3.5"),
            (std::vector<std::string>{"où", "est", "l'hôtel", "quoted", "3.5"}));
}

}  // namespace
}  // namespace sobre::cache
