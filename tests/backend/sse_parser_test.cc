#include "backend/internal/sse_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sobre::backend::internal {
namespace {

std::vector<SseEvent> FeedAll(const std::vector<std::string>& pieces, bool finish = false) {
  SseParser parser;
  std::vector<SseEvent> events;
  for (const std::string& p : pieces) EXPECT_TRUE(parser.Feed(p, &events).ok());
  if (finish) parser.Finish(&events);
  return events;
}

std::vector<std::string> Data(const std::vector<SseEvent>& events) {
  std::vector<std::string> out;
  for (const SseEvent& e : events) out.push_back(e.data);
  return out;
}

TEST(SseParserTest, SplitsOpenAiStream) {
  auto events = FeedAll({"data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n"});
  EXPECT_EQ(Data(events), (std::vector<std::string>{"{\"a\":1}", "{\"a\":2}", "[DONE]"}));
}

TEST(SseParserTest, EventsSplitAtEveryByteBoundary) {
  const std::string stream =
      "data: {\"x\": \"y\"}\r\n\r\n: keep-alive\n\ndata:z\r\rdata: [DONE]\n\n";
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    auto events = FeedAll({stream.substr(0, cut), stream.substr(cut)});
    EXPECT_EQ(Data(events), (std::vector<std::string>{"{\"x\": \"y\"}", "z", "[DONE]"}))
        << "cut at " << cut;
  }
}

TEST(SseParserTest, ByteAtATime) {
  const std::string stream = "event: delta\r\ndata: a\r\ndata: b\r\n\r\ndata: c\n\n";
  std::vector<std::string> bytes;
  for (char c : stream) bytes.emplace_back(1, c);
  auto events = FeedAll(bytes);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event, "delta");
  EXPECT_EQ(events[0].data, "a\nb");  // Data lines join with '\n'.
  EXPECT_EQ(events[1].event, "");
  EXPECT_EQ(events[1].data, "c");
}

TEST(SseParserTest, CommentsAndEventsWithoutDataAreNotDispatched) {
  auto events = FeedAll({": ping\n\nevent: nothing\n\nid: 7\n\ndata: x\n\n"});
  EXPECT_EQ(Data(events), (std::vector<std::string>{"x"}));
}

TEST(SseParserTest, OnlyOneSpaceAfterTheColonIsDropped) {
  auto events = FeedAll({"data:  two spaces\n\ndata:none\n\n"});
  EXPECT_EQ(Data(events), (std::vector<std::string>{" two spaces", "none"}));
}

TEST(SseParserTest, PendingEventNeedsItsBlankLineUnlessFinished) {
  EXPECT_TRUE(FeedAll({"data: [DONE]\n"}).empty());
  EXPECT_EQ(Data(FeedAll({"data: [DONE]\n"}, /*finish=*/true)),
            (std::vector<std::string>{"[DONE]"}));
  EXPECT_EQ(Data(FeedAll({"data: [DONE]"}, /*finish=*/true)), (std::vector<std::string>{"[DONE]"}));
}

TEST(SseParserTest, SkipsLeadingBom) {
  EXPECT_EQ(Data(FeedAll({"\xEF\xBB\xBF"
                          "data: x\n\n"})),
            (std::vector<std::string>{"x"}));
}

TEST(SseParserTest, RefusesOversizedEvents) {
  SseParser parser(/*max_event_bytes=*/64);
  std::vector<SseEvent> events;
  EXPECT_TRUE(parser.Feed("data: " + std::string(40, 'a') + "\n", &events).ok());
  Status s = parser.Feed("data: " + std::string(40, 'b'), &events);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace sobre::backend::internal
