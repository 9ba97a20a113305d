#include "core/csv.h"

#include <gtest/gtest.h>

namespace sobre {
namespace {

TEST(CsvTest, SplitsQuotedAndTrimmedFields) {
  auto f = SplitCsvLine(R"(a, "b, c" ,"say ""hi""",)");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_EQ(f->size(), 4u);
  EXPECT_EQ((*f)[0], "a");
  EXPECT_EQ((*f)[1], "b, c");
  EXPECT_EQ((*f)[2], "say \"hi\"");
  EXPECT_EQ((*f)[3], "");
}

TEST(CsvTest, RejectsBrokenQuotingAndHostileWidth) {
  EXPECT_FALSE(SplitCsvLine(R"(a,"open)").ok());
  EXPECT_FALSE(SplitCsvLine(R"(a,"x"y)").ok());
  EXPECT_FALSE(SplitCsvLine(R"(a,b"c)").ok());
  EXPECT_FALSE(SplitCsvLine(std::string(100, ',')).ok());
}

TEST(CsvTest, ReadLinesSkipsCommentsAndNamesTheLineOfAnError) {
  auto lines = ReadCsvLines("\xEF\xBB\xBF# source: test\r\nzone,value\r\n\r\nFR,56\r\n", "t.csv");
  ASSERT_TRUE(lines.ok()) << lines.status().ToString();
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ((*lines)[1].line, 4);
  EXPECT_EQ((*lines)[1].fields[1], "56");
  auto bad = ReadCsvLines("a,b\n1,\"2\n", "bad.csv");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad.csv:2"), std::string::npos) << bad.status().message();
}

TEST(CsvTest, QuoteRoundTrips) {
  EXPECT_EQ(CsvQuote("plain"), "plain");
  std::string q = CsvQuote("a \"b\", c");
  EXPECT_EQ(q, "\"a \"\"b\"\", c\"");
  auto back = SplitCsvLine(q);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)[0], "a \"b\", c");
}

}  // namespace
}  // namespace sobre
