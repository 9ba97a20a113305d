// The Prometheus exposition: names, labels, histogram arithmetic and cardinality rules.
#include "gateway/metrics.h"

#include <cstdlib>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sobre::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

RequestObservation ChatObservation(std::string_view model, double duration_s) {
  RequestObservation obs;
  obs.model = model;
  obs.op = Operation::kChat;
  obs.http_status = 200;
  obs.duration_s = duration_s;
  obs.input_tokens = 10;
  obs.output_tokens = 300;
  RequestFootprint f;
  f.energy_wh = 0.5;
  f.co2e_g = 0.2;
  f.water_ml = 3;
  f.embodied_co2e_g = 0.01;
  obs.footprint = f;
  obs.overhead_s = 0.0002;
  obs.key_name = "team-a";
  return obs;
}

// Every line of `text` that starts with `prefix`.
std::vector<std::string> Lines(const std::string& text, std::string_view prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(prefix)) out.push_back(line);
  }
  return out;
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithSumAndCount) {
  GatewayMetrics metrics({"m1"}, false);
  metrics.Record(ChatObservation("m1", 0.015625));
  metrics.Record(ChatObservation("m1", 0.5));
  metrics.Record(ChatObservation("m1", 100));
  const std::string text = metrics.Render(0, 0);
  const std::string labels = R"(gen_ai_operation_name="chat",gen_ai_request_model="m1")";
  EXPECT_THAT(text, HasSubstr("gen_ai_server_request_duration_seconds_bucket{" + labels +
                              ",le=\"0.01\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("gen_ai_server_request_duration_seconds_bucket{" + labels +
                              ",le=\"0.02\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gen_ai_server_request_duration_seconds_bucket{" + labels +
                              ",le=\"0.64\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("gen_ai_server_request_duration_seconds_bucket{" + labels +
                              ",le=\"81.92\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("gen_ai_server_request_duration_seconds_bucket{" + labels +
                              ",le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("gen_ai_server_request_duration_seconds_count{" + labels + "} 3\n"));
  EXPECT_THAT(text, HasSubstr("gen_ai_server_request_duration_seconds_sum{" + labels + "} 100.515625\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE gen_ai_server_request_duration_seconds histogram\n"));
}

TEST(MetricsTest, TokenUsageCarriesTheTokenType) {
  GatewayMetrics metrics({"m1"}, false);
  metrics.Record(ChatObservation("m1", 1));
  const std::string text = metrics.Render(0, 0);
  EXPECT_THAT(text, HasSubstr(R"(gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",)"
                              R"(gen_ai_request_model="m1",gen_ai_token_type="input",le="16"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(gen_ai_client_token_usage_sum{gen_ai_operation_name="chat",)"
                              R"(gen_ai_request_model="m1",gen_ai_token_type="output"} 300)"));
}

TEST(MetricsTest, FootprintCountersByModelInBaseUnits) {
  GatewayMetrics metrics({"m1", "m2"}, false);
  metrics.Record(ChatObservation("m1", 1));
  metrics.Record(ChatObservation("m1", 1));
  const std::string text = metrics.Render(3, 4);
  EXPECT_THAT(text, HasSubstr("sobre_energy_joules_total{model=\"m1\"} 3600\n"));  // 2 x 0.5 Wh.
  EXPECT_THAT(text, HasSubstr("sobre_co2e_grams_total{model=\"m1\"} 0.4\n"));
  EXPECT_THAT(text, HasSubstr("sobre_water_litres_total{model=\"m1\"} 0.006\n"));
  EXPECT_THAT(text, HasSubstr("sobre_energy_joules_total{model=\"m2\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE sobre_energy_joules_total counter\n"));
  EXPECT_THAT(text, HasSubstr("sobre_requests_in_flight 3\n"));
  EXPECT_THAT(text, HasSubstr("sobre_requests_queued 4\n"));
  EXPECT_THAT(text, HasSubstr(R"(sobre_requests_total{gen_ai_operation_name="chat",)"
                              R"(gen_ai_request_model="m1",http_status="200"} 2)"));
}

TEST(MetricsTest, UnknownModelsShareOneSeriesAndKeysAreOffByDefault) {
  GatewayMetrics metrics({"m1"}, false);
  RequestObservation obs;
  obs.model = "attacker-chosen-name";
  obs.http_status = 404;
  metrics.Record(obs);
  metrics.Record(ChatObservation("m1", 1));
  const std::string text = metrics.Render(0, 0);
  EXPECT_THAT(text, Not(HasSubstr("attacker-chosen-name")));
  EXPECT_THAT(text, HasSubstr(R"(gen_ai_request_model="unknown",http_status="404"} 1)"));
  EXPECT_THAT(text, Not(HasSubstr("team-a")));
  EXPECT_TRUE(Lines(text, "sobre_key_").empty());
}

TEST(MetricsTest, PerKeyLabelsWhenEnabled) {
  GatewayMetrics metrics({"m1"}, true);
  metrics.Record(ChatObservation("m1", 1));
  const std::string text = metrics.Render(0, 0);
  EXPECT_THAT(text, HasSubstr("sobre_key_energy_joules_total{key=\"team-a\"} 1800\n"));
  EXPECT_THAT(text, HasSubstr("sobre_key_requests_total{key=\"team-a\"} 1\n"));
}

TEST(MetricsTest, EveryFamilyIsDeclaredOnceAndLabelValuesAreEscaped) {
  GatewayMetrics metrics({"we\"ird\\model"}, false);
  metrics.Record(ChatObservation("we\"ird\\model", 1));
  const std::string text = metrics.Render(0, 0);
  EXPECT_THAT(text, HasSubstr(R"(model="we\"ird\\model")"));
  std::set<std::string> seen;
  for (const std::string& line : Lines(text, "# TYPE ")) {
    EXPECT_TRUE(seen.insert(line).second) << line;
  }
  EXPECT_EQ(EscapeLabelValue("a\nb"), "a\\nb");
  // Every sample line is "name{labels} value" or "name value", the value a number.
  for (const std::string& line : Lines(text, "")) {
    if (line.starts_with("#") || line.empty()) continue;
    const size_t space = line.rfind(' ');
    ASSERT_NE(space, std::string::npos) << line;
    const std::string value = line.substr(space + 1);
    char* end = nullptr;
    std::strtod(value.c_str(), &end);
    EXPECT_EQ(*end, '\0') << line;
  }
}

}  // namespace
}  // namespace sobre::gateway
