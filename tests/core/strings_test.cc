#include "core/strings.h"

#include <gtest/gtest.h>

namespace sobre {
namespace {

TEST(StringsTest, ParseDoubleIsStrict) {
  EXPECT_DOUBLE_EQ(*ParseDouble(" 1.5 "), 1.5);
  EXPECT_DOUBLE_EQ(*ParseDouble("+2e3"), 2000.0);
  EXPECT_FALSE(ParseDouble("12abc").ok());
  EXPECT_FALSE(ParseDouble("").ok());
  EXPECT_FALSE(ParseDouble("nan").ok());
  EXPECT_FALSE(ParseDouble("inf").ok());
  EXPECT_NE(ParseDouble("x").status().message().find("'x'"), std::string::npos);
}

TEST(StringsTest, ParseIntegers) {
  EXPECT_EQ(*ParseInt64("-42"), -42);
  EXPECT_EQ(*ParseUint64("18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(ParseUint64("-1").ok());
  EXPECT_FALSE(ParseUint64("18446744073709551616").ok());  // Overflow.
  EXPECT_FALSE(ParseInt64("4 2").ok());
}

TEST(StringsTest, SplitKeepsEmptyFields) {
  auto parts = Split("a,,b,", ',');
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(parts[1], "");
  EXPECT_EQ(parts[3], "");
}

TEST(StringsTest, NormalizeNameDropsPunctuationAndCase) {
  EXPECT_EQ(NormalizeName("A100-SXM4 80GB"), "a100sxm480gb");
}

TEST(StringsTest, EditDistance) {
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
}

TEST(StringsTest, ClosestNamesPrefersContainment) {
  std::vector<std::string> names = {"A100-SXM4-80GB", "H100-SXM", "T4", "V100-SXM2"};
  auto near = ClosestNames("a100", names, 2);
  ASSERT_EQ(near.size(), 2u);
  EXPECT_EQ(near[0], "A100-SXM4-80GB");
  auto typo = ClosestNames("H100-SMX", names, 1);
  EXPECT_EQ(typo[0], "H100-SXM");
}

}  // namespace
}  // namespace sobre

namespace sobre {
namespace {

TEST(StringsTest, ClosestNamesRanksSharedPrefixesFirst) {
  std::vector<std::string> names = {"A10", "H100-SXM5-80GB", "A100-SXM4-80GB", "H200"};
  EXPECT_EQ(ClosestNames("A100-SXM9", names, 1)[0], "A100-SXM4-80GB");
}

}  // namespace
}  // namespace sobre
