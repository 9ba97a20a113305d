// GpuEnergyMeter: the attribution arithmetic on a FakeClock with fake counters, NVML failures at
// start, and a `meter: nvml` model end to end through the Gateway with the fake libnvidia-ml
// (tests/footprint/fake_nvml.c, path in FAKE_NVML_LIBRARY).
#include "gateway/gpu_meter.h"

#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gateway/gateway.h"
#include "tests/cli/cli_runner.h"
#include "tests/gateway/http_test_client.h"

namespace sobre::gateway {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using std::chrono::milliseconds;

// Returns `next_j` on every read after the first (the baseline).
class FakeCounter : public footprint::EnergyCounter {
 public:
  explicit FakeCounter(int index) : index_(index) {}
  std::string label() const override { return "fake gpu"; }
  footprint::Component component() const override { return footprint::Component::kGpu; }
  std::string method() const override { return "fake"; }
  int device_index() const override { return index_; }
  StatusOr<Joules> Sample(std::chrono::steady_clock::time_point) override {
    return Joules(next_j);
  }
  double next_j = 0;

 private:
  int index_;
};

class GpuMeterTest : public ::testing::Test {
 protected:
  // A meter on GPUs 0..n-1 without a sampler thread; counter(i) scripts GPU i.
  void Make(int n = 1) {
    std::vector<std::unique_ptr<footprint::EnergyCounter>> counters;
    for (int i = 0; i < n; ++i) {
      auto c = std::make_unique<FakeCounter>(i);
      fakes_.push_back(c.get());
      counters.push_back(std::move(c));
    }
    meter_ = std::make_unique<GpuEnergyMeter>(std::move(counters), clock_, false);
  }
  // Advances the clock by `ms` and closes an interval holding `joules` on GPU 0.
  void Interval(int ms, double joules) {
    clock_.Advance(milliseconds(ms));
    fakes_[0]->next_j = joules;
    meter_->SampleNow();
    fakes_[0]->next_j = 0;
  }

  FakeClock clock_;
  std::vector<FakeCounter*> fakes_;
  std::unique_ptr<GpuEnergyMeter> meter_;
};

TEST_F(GpuMeterTest, OverlappingRequestsShareAnIntervalByTokensAndIdleIsNotCharged) {
  Make();
  Interval(100, 5);  // Nobody running: idle.
  GpuEnergyMeter::Request a = meter_->Begin({});
  GpuEnergyMeter::Request b = meter_->Begin({});
  clock_.Advance(milliseconds(100));
  a.AddTokens(30);
  b.AddTokens(10);
  Interval(0, 40);
  EXPECT_NEAR(a.Finish(30).value(), 30, 1e-9);
  EXPECT_NEAR(b.Finish(10).value(), 10, 1e-9);
  Interval(100, 7);  // Idle again.
  EXPECT_NEAR(meter_->idle_joules()[0].value(), 12, 1e-9);
  EXPECT_THAT(meter_->RenderMetrics(), HasSubstr("sobre_gpu_idle_joules_total{gpu=\"0\"} 12\n"));
}

TEST_F(GpuMeterTest, NonStreamedTokensAreSpreadEvenlyOverTheRequest) {
  Make();
  GpuEnergyMeter::Request whole = meter_->Begin({});   // Not streamed: 40 tokens at the end.
  GpuEnergyMeter::Request stream = meter_->Begin({});  // 10 then 30 tokens.
  clock_.Advance(milliseconds(100));
  stream.AddTokens(10);
  Interval(0, 30);
  clock_.Advance(milliseconds(100));
  stream.AddTokens(30);
  fakes_[0]->next_j = 50;
  // 20 tokens in each interval: 30 × 20/30 + 50 × 20/50.
  EXPECT_NEAR(whole.Finish(40).value(), 40, 1e-9);
  fakes_[0]->next_j = 0;
  EXPECT_NEAR(stream.Finish(40).value(), 30 * 10.0 / 30 + 50 * 30.0 / 50, 1e-9);
  EXPECT_NEAR(meter_->idle_joules()[0].value(), 0, 1e-9);
}

TEST_F(GpuMeterTest, ARunningRequestWithoutCountIsEstimatedAndNothingIsChargedTwice) {
  Make();
  GpuEnergyMeter::Request whole = meter_->Begin({});
  GpuEnergyMeter::Request stream = meter_->Begin({});
  clock_.Advance(milliseconds(100));
  stream.AddTokens(10);
  Interval(0, 40);
  clock_.Advance(milliseconds(100));
  stream.AddTokens(10);
  fakes_[0]->next_j = 20;
  // `whole` has no count yet: weighed at the stream's rate, 10 tokens per interval.
  EXPECT_NEAR(stream.Finish(20).value(), 40 / 2.0 + 20 / 2.0, 1e-9);
  Interval(100, 30);
  // 60 tokens spread: 20 per interval, 2/3 of the first two, capped by what is left of them.
  EXPECT_NEAR(whole.Finish(60).value(), 20 + 10 + 30, 1e-9);
}

TEST_F(GpuMeterTest, RequestsAreChargedOnlyTheirGpusAndByTimeBeforeAnyToken) {
  Make(2);
  GpuEnergyMeter::Request a = meter_->Begin(std::vector<int>{1});
  GpuEnergyMeter::Request b = meter_->Begin(std::vector<int>{1});
  clock_.Advance(milliseconds(100));
  fakes_[0]->next_j = 10;
  fakes_[1]->next_j = 20;
  meter_->SampleNow();
  fakes_[0]->next_j = 0;
  fakes_[1]->next_j = 0;
  EXPECT_NEAR(a.Finish(0).value(), 10, 1e-9);  // No token yet: half of GPU 1 by time.
  EXPECT_NEAR(b.Finish(0).value(), 10, 1e-9);
  EXPECT_NEAR(meter_->idle_joules()[0].value(), 10, 1e-9);
  EXPECT_NEAR(meter_->idle_joules()[1].value(), 0, 1e-9);
}

// ---------------------------------------------------------------------------------------------
// With the fake libnvidia-ml.

class FakeNvmlTest : public ::testing::Test {
 protected:
  void SetUp() override { unsetenv("SOBRE_NVML_LIBRARY"); }
  void TearDown() override { unsetenv("SOBRE_FAKE_NVML_CONFIG"); }
  void Configure(const std::string& text) {
    setenv("SOBRE_FAKE_NVML_CONFIG", dir_.Write("fake_nvml.conf", text).c_str(), 1);
  }
  sobre::testing::TempDir dir_;
};

TEST_F(FakeNvmlTest, CreateFailsClearlyWithoutNvmlOrWithoutTheGpu) {
  auto missing = GpuEnergyMeter::Create("/nonexistent/libnvidia-ml.so.1", {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.status().message(), HasSubstr("meter: nvml needs NVML"));

  Configure("gpu \"Fake H100\" energy 0 1000\n");
  auto no_gpu = GpuEnergyMeter::Create(FAKE_NVML_LIBRARY, {3});
  ASSERT_FALSE(no_gpu.ok());
  EXPECT_THAT(no_gpu.status().message(), HasSubstr("GPU 3 is not metered"));

  auto ok = GpuEnergyMeter::Create(FAKE_NVML_LIBRARY, {0});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ((*ok)->gpu_indices(), std::vector<int>{0});
}

// A backend answering "Hello!" (3 tokens), streamed or not.
class LocalBackend : public backend::Backend {
 public:
  std::string name() const override { return "fake:local"; }
  bool is_local() const override { return false; }
  boost::asio::awaitable<StatusOr<backend::BackendResult>> Call(
      backend::BackendRequest request, backend::StreamSink* sink) override {
    backend::BackendResult result;
    result.usage.prompt_tokens = 5;
    result.usage.completion_tokens = 3;
    result.usage.reported = false;
    if (!request.stream) {
      json::object message;
      message["role"] = "assistant";
      message["content"] = "Hello!";
      json::object choice;
      choice["index"] = 0;
      choice["message"] = std::move(message);
      choice["finish_reason"] = "stop";
      json::array choices;
      choices.push_back(std::move(choice));
      result.body["id"] = "chatcmpl-local";
      result.body["object"] = "chat.completion";
      result.body["choices"] = std::move(choices);
      co_return result;
    }
    for (const char* piece : {"Hel", "lo", "!"}) {
      json::object delta;
      delta["content"] = piece;
      json::object choice;
      choice["index"] = 0;
      choice["delta"] = std::move(delta);
      json::array choices;
      choices.push_back(std::move(choice));
      json::object chunk;
      chunk["id"] = "chatcmpl-local";
      chunk["object"] = "chat.completion.chunk";
      chunk["choices"] = std::move(choices);
      if (!co_await sink->OnChunk(std::move(chunk))) co_return CancelledError("client gone");
    }
    co_return result;
  }
};

TEST_F(FakeNvmlTest, AMeteredModelReportsMeasuredEnergy) {
  Configure("gpu \"Fake H100\" energy 0 2000\n");  // 2 J per read.
  auto meter = GpuEnergyMeter::Create(FAKE_NVML_LIBRARY, {});
  ASSERT_TRUE(meter.ok()) << meter.status().ToString();
  auto opened = store::OpenStore("sqlite::memory:");
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();

  GatewayConfig config;
  config.server.host = "127.0.0.1";
  config.server.port = 0;
  config.site.zone = "FR";
  ModelConfig local;
  local.name = "local";
  local.params_b = 8;
  local.meter = MeterKind::kNvml;
  config.models = {local};
  std::map<std::string, std::unique_ptr<backend::Backend>> backends;
  backends["local"] = std::make_unique<LocalBackend>();
  Gateway gateway(config, **opened, std::move(backends), SystemClock(), std::move(*meter));
  HttpServer server(config.server);
  gateway.RegisterRoutes(server);
  ASSERT_TRUE(server.Start().ok());

  auto post = [&](const std::string& body) {
    auto client = testing::HttpTestClient::Connect(server.port());
    EXPECT_TRUE(client != nullptr);
    if (client == nullptr) return testing::HttpTestResponse();
    EXPECT_TRUE(client->Send(testing::HttpPost("/v1/chat/completions", body)));
    return client->ReadResponse().value_or(testing::HttpTestResponse());
  };
  const std::string messages = R"("messages":[{"role":"user","content":"Hi"}])";
  const testing::HttpTestResponse plain = post(R"({"model":"local",)" + messages + "}");
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_EQ(plain.Header("x-sobre-method"), "measured");
  const json::value f = json::parse(plain.body).at("usage").at("footprint");
  EXPECT_EQ(f.at("method").as_string(), "measured");
  // At least the 2 J read when the request finished, plus a little gateway time.
  EXPECT_GE(f.at("energy_wh").to_number<double>(), 2 / 3600.0);

  const testing::HttpTestResponse streamed = post(
      R"({"model":"local","stream":true,"stream_options":{"include_usage":true},)" + messages +
      "}");
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  EXPECT_EQ(streamed.Header("x-sobre-method"), "measured");
  EXPECT_THAT(streamed.body, HasSubstr(R"("method":"measured")"));

  auto metrics_client = testing::HttpTestClient::Connect(server.port());
  ASSERT_TRUE(metrics_client != nullptr);
  ASSERT_TRUE(metrics_client->Send(testing::HttpGet("/metrics")));
  auto metrics = metrics_client->ReadResponse();
  ASSERT_TRUE(metrics.has_value());
  EXPECT_THAT(metrics->body, HasSubstr("sobre_gpu_idle_joules_total{gpu=\"0\"} "));
  server.Stop(milliseconds(2000));
}

}  // namespace
}  // namespace sobre::gateway
