// StopMatcher: stop strings across token boundaries, held-back text, and a randomised comparison
// with a plain search over the whole text.
#include "engine/runtime/stop_matcher.h"

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace sobre::engine {
namespace {

struct FeedResult {
  std::string emitted;
  bool stopped = false;
};

FeedResult Feed(StopMatcher& m, const std::vector<std::string>& pieces) {
  FeedResult r;
  for (const std::string& p : pieces) {
    StopMatcher::Result res = m.Push(p);
    r.emitted += res.emit;
    if (res.stopped) {
      r.stopped = true;
      return r;
    }
  }
  r.emitted += m.Flush();
  return r;
}

TEST(StopMatcherTest, StopAcrossTokensIsNeverEmitted) {
  StopMatcher m;
  ASSERT_TRUE(m.Reset({"###"}).ok());
  auto a = m.Push("Hel");
  EXPECT_EQ(a.emit, "Hel");
  auto b = m.Push("lo #");
  EXPECT_EQ(b.emit, "lo ");  // "#" could start the stop: held
  auto c = m.Push("#");
  EXPECT_EQ(c.emit, "");
  EXPECT_FALSE(c.stopped);
  auto d = m.Push("#tail");
  EXPECT_TRUE(d.stopped);
  EXPECT_EQ(d.emit, "");
  EXPECT_TRUE(m.Push("more").stopped);
}

TEST(StopMatcherTest, HeldTextIsReleasedWhenItStopsMatching) {
  StopMatcher m;
  ASSERT_TRUE(m.Reset({"abc"}).ok());
  EXPECT_EQ(m.Push("xab").emit, "x");
  EXPECT_EQ(m.held(), 2u);
  EXPECT_EQ(m.Push("d").emit, "abd");
  EXPECT_EQ(m.Push("a").emit, "");
  EXPECT_EQ(m.Flush(), "a");
}

TEST(StopMatcherTest, EarliestOfSeveralStopsWins) {
  StopMatcher m;
  ASSERT_TRUE(m.Reset({"world", "lo w", "\n\n"}).ok());
  FeedResult r = Feed(m, {"hello", " world"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.emitted, "hel");
}

TEST(StopMatcherTest, OverlappingPrefixes) {
  StopMatcher m;
  ASSERT_TRUE(m.Reset({"aab"}).ok());
  FeedResult r = Feed(m, {"a", "a", "a", "b", "z"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.emitted, "a");
}

TEST(StopMatcherTest, MultibyteStopStrings) {
  StopMatcher m;
  ASSERT_TRUE(m.Reset({"é!"}).ok());
  FeedResult r = Feed(m, {"caf", "\xc3\xa9", "!"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.emitted, "caf");
}

TEST(StopMatcherTest, NoStopsEmitsEverything) {
  StopMatcher m;
  ASSERT_TRUE(m.Reset({}).ok());
  EXPECT_EQ(m.Push("abc").emit, "abc");
  EXPECT_EQ(m.held(), 0u);
}

TEST(StopMatcherTest, RejectsTooManyOrEmptyStops) {
  StopMatcher m;
  EXPECT_EQ(m.Reset({"a", "b", "c", "d", "e"}).code(), StatusCode::kInvalidArgument);
  Status st = m.Reset({"a", ""});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("stop[1]"), std::string::npos);
}

// Random texts over a 3-letter alphabet, random splits and stops: the output must equal the text up
// to the first stop completed (searched in the whole text after each piece), text must be emitted as early as possible (only a suffix
// that is a prefix of a stop is held), and no stop may ever appear in emitted text.
TEST(StopMatcherTest, MatchesAPlainSearchOnRandomInputs) {
  std::mt19937 gen(42);
  auto rand_string = [&](int min_len, int max_len) {
    std::uniform_int_distribution<int> len(min_len, max_len), ch(0, 2);
    std::string s;
    for (int i = len(gen); i > 0; --i) s += static_cast<char>('a' + ch(gen));
    return s;
  };
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<std::string> stops;
    for (int i = std::uniform_int_distribution<int>(0, 4)(gen); i > 0; --i) {
      stops.push_back(rand_string(1, 4));
    }
    const std::string text = rand_string(0, 30);
    std::vector<std::string> pieces;
    for (size_t at = 0; at < text.size();) {
      const size_t n = std::uniform_int_distribution<size_t>(1, 4)(gen);
      pieces.push_back(text.substr(at, n));
      at += pieces.back().size();
    }
    // Reference: after each piece, search the whole text so far; the first piece that completes
    // a stop ends the output at that stop's earliest start.
    std::string expected = text;
    bool expect_stop = false;
    {
      std::string so_far;
      for (const std::string& piece : pieces) {
        so_far += piece;
        size_t first = std::string::npos;
        for (const auto& s : stops) first = std::min(first, so_far.find(s));
        if (first != std::string::npos) {
          expected = so_far.substr(0, first);
          expect_stop = true;
          break;
        }
      }
    }

    StopMatcher m;
    ASSERT_TRUE(m.Reset(stops).ok());
    std::string emitted;
    size_t fed = 0;
    bool stopped = false;
    for (size_t i = 0; i < pieces.size() && !stopped; ++i) {
      fed += pieces[i].size();
      auto r = m.Push(pieces[i]);
      emitted += r.emit;
      stopped = r.stopped;
      ASSERT_EQ(expected.compare(0, emitted.size(), emitted), 0)
          << text << " emitted " << emitted << " stops " << ::testing::PrintToString(stops);
      if (!stopped) {
        // Held text is exactly the longest suffix of what was fed that is a proper stop prefix.
        size_t hold = 0;
        const std::string so_far = text.substr(0, fed);
        for (const auto& s : stops) {
          for (size_t len = std::min(s.size() - 1, so_far.size()); len > hold; --len) {
            if (so_far.compare(so_far.size() - len, len, s, 0, len) == 0) {
              hold = len;
              break;
            }
          }
        }
        ASSERT_EQ(emitted.size(), fed - hold) << text;
      }
    }
    if (!stopped) emitted += m.Flush();
    EXPECT_EQ(stopped, expect_stop) << text;
    EXPECT_EQ(emitted, expected) << text;
  }
}

}  // namespace
}  // namespace sobre::engine
