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
  EXPECT_FALSE(GuardsAllow("What is the capital of France?", "hello", &reason));
  EXPECT_NE(reason.find("overlap"), std::string::npos) << reason;
  EXPECT_FALSE(GuardsAllow("How do I bake bread?", "What is the capital of France?", &reason));
  EXPECT_NE(reason.find("overlap"), std::string::npos) << reason;
}

TEST(SemanticGuardsTest, RejectsASubstitutedContentWord) {
  std::string reason;
  EXPECT_FALSE(GuardsAllow("How do I delete this branch?", "How do I delete this repo?", &reason));
  EXPECT_EQ(reason, "content differs: {branch} vs {repo}");
  EXPECT_FALSE(GuardsAllow("How do I cancel my subscription?", "How do I pause my subscription?", &reason));
  // One word in a long question: Jaccard overlap alone (5/7) would let these through.
  EXPECT_FALSE(GuardsAllow("What are the best museums to visit in Paris in spring?",
                           "What are the best museums to visit in Lyon in spring?", &reason));
  EXPECT_EQ(reason, "content differs: {paris} vs {lyon}");
  EXPECT_FALSE(GuardsAllow("Is 5 mg of melatonin too much?", "Is 5 g of melatonin too much?", &reason));
  EXPECT_FALSE(GuardsAllow("Is 1 Gbps internet fast?", "Is 1 Mbps internet fast?", &reason));
  EXPECT_FALSE(GuardsAllow("What is the capital of Austria?", "What is the capital of Australia?", &reason));
  EXPECT_FALSE(GuardsAllow("How do I install Python?", "How do I uninstall Python?", &reason));
  EXPECT_FALSE(GuardsAllow("How do I activate my SIM card?", "How do I deactivate my SIM card?", &reason));
  EXPECT_FALSE(GuardsAllow("What does error code 0x80070005 mean?", "What does error code 0x80070002 mean?",
                           &reason));
  EXPECT_FALSE(GuardsAllow("What should I eat before a marathon?", "What should I eat after a marathon?",
                           &reason));
  EXPECT_FALSE(GuardsAllow("Explain the causes of World War I.", "Explain the causes of World War II.",
                           &reason));
  EXPECT_FALSE(GuardsAllow("How do I declare an array in C?", "How do I declare an array in C#?", &reason));
  EXPECT_FALSE(GuardsAllow("How do I declare an array in C?", "How do I declare an array in C++?", &reason));
  EXPECT_FALSE(GuardsAllow("Is the subscription refundable?", "Is the subscription non-refundable?", &reason));
}

TEST(SemanticGuardsTest, AcceptsTyposStemsAndWordsWrittenTogether) {
  std::string reason;
  EXPECT_TRUE(GuardsAllow("How do I install Python on Windows?", "How do I instal Pyhton on Windows?",
                          &reason))
      << reason;
  EXPECT_TRUE(GuardsAllow("How do I make a chocolate cake?", "how do i make a choclate cake", &reason))
      << reason;
  EXPECT_TRUE(GuardsAllow("How do I change my username?", "How do I change my user-name?", &reason))
      << reason;
  EXPECT_TRUE(GuardsAllow("How do I reverse a list in Python?", "Reversing a list in Python: how?",
                          &reason))
      << reason;
  // Short words get no typo allowance: "rest" is a word of its own.
  EXPECT_FALSE(GuardsAllow("How do I reset my password?", "How do I rest my password?", &reason));
}

TEST(SemanticGuardsTest, RejectsSwappedRolesButNotMovedPhrases) {
  std::string reason;
  EXPECT_FALSE(GuardsAllow("Convert Celsius to Fahrenheit.", "Convert Fahrenheit to Celsius.", &reason));
  EXPECT_NE(reason.find("roles swapped around: celsius ... to ... fahrenheit"), std::string::npos)
      << reason;
  EXPECT_FALSE(GuardsAllow("Convert 10 km to miles.", "Convert 10 miles to km.", &reason));
  EXPECT_FALSE(GuardsAllow("Is a dolphin bigger than a shark?", "Is a shark bigger than a dolphin?", &reason));
  EXPECT_FALSE(GuardsAllow("How do I convert a list to a tuple in Python?",
                           "How do I convert a tuple to a list in Python?", &reason));
  EXPECT_FALSE(GuardsAllow("How do I port my code from Python 2 to Python 3?",
                           "How do I port my code from Python 3 to Python 2?", &reason));
  EXPECT_TRUE(GuardsAllow("In Python, how do I reverse a list?", "How do I reverse a list in Python?",
                          &reason))
      << reason;
  EXPECT_TRUE(GuardsAllow("What is the boiling point of water at sea level?",
                          "At sea level, what is the boiling point of water?", &reason))
      << reason;
  GuardOptions no_roles;
  no_roles.check_roles = false;
  EXPECT_TRUE(GuardsAllow("Convert Celsius to Fahrenheit.", "Convert Fahrenheit to Celsius.", nullptr,
                          no_roles));
}

TEST(SemanticGuardsTest, RejectsADifferentQuestionWord) {
  std::string reason;
  EXPECT_FALSE(GuardsAllow("Why is the train to Oxford late?", "When is the train to Oxford late?", &reason));
  EXPECT_EQ(reason, "question words differ: {why} vs {when}");
  // A question and an instruction, or two framings of one question, pass.
  EXPECT_TRUE(GuardsAllow("How do I boil an egg?", "Tell me how to boil an egg.", &reason)) << reason;
  EXPECT_TRUE(GuardsAllow("Which laptop is best for programming?", "What laptop is best for programming?",
                          &reason))
      << reason;
  GuardOptions lax;
  lax.check_question_words = false;
  EXPECT_TRUE(GuardsAllow("Why is the train to Oxford late?", "When is the train to Oxford late?",
                          nullptr, lax));
}

TEST(SemanticGuardsTest, IgnoresPolitenessAndRequestFraming) {
  std::string reason;
  EXPECT_TRUE(GuardsAllow("How do I reset my password?",
                          "Hi! Could you please tell me how I can reset my password? Thanks!", &reason))
      << reason;
  EXPECT_TRUE(GuardsAllow("What are the benefits of meditation?", "List the benefits of meditation.",
                          &reason))
      << reason;
  EXPECT_TRUE(GuardsAllow("I am unable to log in.", "I'm unable to log in.", &reason)) << reason;
  EXPECT_TRUE(GuardsAllow("They are charging me twice.", "They're charging me twice.", &reason)) << reason;
  EXPECT_TRUE(IsFillerWord("thanks"));
  EXPECT_FALSE(IsFillerWord("password"));
}

TEST(SemanticGuardsTest, AcceptsParaphrases) {
  std::string reason;
  EXPECT_TRUE(GuardsAllow("How do I reset my password?", "How can I reset my password", &reason))
      << reason;
  EXPECT_TRUE(GuardsAllow("What's the capital of France?", "France's capital: what is it?", &reason))
      << reason;
  EXPECT_TRUE(GuardsAllow("Explain how photosynthesis works", "explain how PHOTOSYNTHESIS works!",
                          &reason))
      << reason;
  EXPECT_TRUE(GuardsAllow("Translate these sentences", "Translate this sentence", &reason)) << reason;
  // Greetings and thanks only: nothing to compare but the words themselves.
  EXPECT_FALSE(GuardsAllow("Hi", "Hello", nullptr));
  EXPECT_FALSE(GuardsAllow("Thanks!", "Hello", nullptr));
  EXPECT_TRUE(GuardsAllow("Hi!", "hi", nullptr));
}

TEST(SemanticGuardsTest, LongTextsAreComparedWordForWord) {
  // A long prompt (10,000 words, 2,000 distinct) against itself, one word changed, and an
  // unrelated long prompt: exact matches go by hash, so this stays fast (not timed here).
  std::string base, changed, other;
  for (int i = 0; i < 10000; ++i) {
    std::string word = "word" + std::string(1, static_cast<char>('a' + i % 26)) +
                       std::string(1, static_cast<char>('a' + (i / 26) % 26)) +
                       std::string(1, static_cast<char>('a' + (i / 676) % 3));
    base += word + " ";
    changed += (i == 5000 ? std::string("zebra") : word) + " ";
    other += "other" + word + " ";
  }
  std::string reason;
  EXPECT_TRUE(GuardsAllow(base, base, &reason)) << reason;
  EXPECT_FALSE(GuardsAllow(base, changed, &reason));
  EXPECT_NE(reason.find("content differs"), std::string::npos) << reason.substr(0, 200);
  EXPECT_FALSE(GuardsAllow(base, other, &reason));
}

TEST(SemanticGuardsTest, OverlapFloorIsAnOption) {
  GuardOptions lax;
  lax.min_content_overlap = 0.3;
  lax.max_unmatched_content = -1;
  EXPECT_TRUE(GuardsAllow("How do I delete this branch?", "How do I delete this repo?", nullptr, lax));
  lax.min_content_overlap = 0.6;
  EXPECT_FALSE(GuardsAllow("How do I delete this branch?", "How do I delete this repo?", nullptr, lax));
}

TEST(SemanticGuardsTest, TokenizesUtf8AndApostrophes) {
  EXPECT_EQ(WordTokens("Où est l’hôtel? 'quoted' 3.5"),
            (std::vector<std::string>{"où", "est", "l'hôtel", "quoted", "3.5"}));
  EXPECT_EQ(WordTokens("C# or C++, not C; #1 +2"),
            (std::vector<std::string>{"c#", "or", "c++", "not", "c", "1", "2"}));
}

}  // namespace
}  // namespace sobre::cache
