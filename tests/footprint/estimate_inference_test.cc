// Inference (EcoLogits v0.9, the worked examples of reference/measurement.md §2.3) and service
// estimators, and their input checks.
#include "footprint/estimate.h"

#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "tests/footprint/estimate_test_util.h"

namespace sobre::footprint {
namespace {

using namespace estimate_testing;  // NOLINT: the shared helpers.

// ---- Inference: EcoLogits v0.9, the worked examples of §2.3.

InferenceOptions OpenAiSetting(double total_b, double active_b) {
  InferenceOptions o;
  o.total_params_b = total_b;
  if (active_b != total_b) o.active_params_b = active_b;
  o.output_tokens = 500;
  o.pue = 1.2;
  o.wue_onsite_l_per_kwh = 0.569;
  o.wue_mix_l_per_kwh = 3.1321;
  o.intensity.g_per_kwh = 383.55;
  return o;
}

// A figure as printed, and half a unit of its last printed digit.
struct Printed {
  double value;
  double tolerance;
};

Printed AsPrinted(const std::string& text) {
  const size_t dot = text.find('.');
  const int decimals = dot == std::string::npos ? 0 : static_cast<int>(text.size() - dot - 1);
  return Printed{std::stod(text), 0.5 * std::pow(10.0, -decimals) + 1e-12};
}

TEST(EstimateInferenceTest, ReproducesEcoLogitsWorkedExamples) {
  struct Row {
    const char* model;
    double total_b;
    double active_b;
    int64_t gpus;
    // As printed in the table of §2.3: latency s, energy Wh, usage g, embodied g, water mL.
    const char* latency_s;
    const char* energy_wh;
    const char* usage_g;
    const char* embodied_g;
    const char* water_ml;
  };
  const Row rows[] = {
      {"7B", 7, 7, 1, "22.1", "0.044", "0.017", "0.0032", "0.19"},
      {"70B", 70, 70, 4, "43.5", "0.329", "0.126", "0.025", "1.42"},
      {"405B", 405, 405, 16, "157.1", "4.57", "1.75", "0.36", "19.8"},
      {"MoE 440B/44B", 440, 44, 16, "34.6", "1.06", "0.41", "0.080", "4.60"},
  };
  for (const Row& row : rows) {
    auto e = EstimateInference(OpenAiSetting(row.total_b, row.active_b));
    ASSERT_TRUE(e.ok()) << row.model << ": " << e.status().ToString();
    EXPECT_EQ(e->gpu_count, row.gpus) << row.model;
    Printed p = AsPrinted(row.latency_s);
    EXPECT_NEAR(e->latency.count(), p.value, p.tolerance) << row.model;
    p = AsPrinted(row.energy_wh);
    EXPECT_NEAR(e->energy.value(), p.value, p.tolerance) << row.model;
    p = AsPrinted(row.usage_g);
    EXPECT_NEAR(e->usage_co2e.value(), p.value, p.tolerance) << row.model;
    p = AsPrinted(row.embodied_g);
    EXPECT_NEAR(e->embodied_co2e.value(), p.value, p.tolerance) << row.model;
    p = AsPrinted(row.water_ml);
    EXPECT_NEAR(e->water.value() * 1000, p.value, p.tolerance) << row.model;
  }
}

TEST(EstimateInferenceTest, SeventyBDetails) {
  auto e = EstimateInference(OpenAiSetting(70, 70));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_NEAR(e->model_memory_gb, 168, 1e-9);
  EXPECT_NEAR(e->gpu_energy_per_token.value(), 8.0e-5, 0.05e-5);
  // About 1.15 J per token across the 4 GPUs.
  EXPECT_NEAR(e->gpu_energy.value() * 3600 / 500, 1.15, 0.01);
  EXPECT_NEAR(e->energy.value(), 0.329, 0.0005);
  EXPECT_NEAR(e->usage_co2e.value(), 0.126, 0.0005);
  EXPECT_NEAR(e->embodied_co2e.value(), 0.025, 0.0005);
  EXPECT_NEAR(e->water.value() * 1000, 1.42, 0.005);
  EXPECT_TRUE(HasAssumption(e->assumptions, "alpha_E", 1.1665273170451914e-06, "EcoLogits"));
  EXPECT_TRUE(HasAssumption(e->assumptions, "gamma_L", 1.9473717579473387e-02, "EcoLogits"));
  EXPECT_TRUE(HasAssumption(e->assumptions, "carbon intensity", 383.55, "--intensity"));
  EXPECT_TRUE(e->warnings.empty());
}

TEST(EstimateInferenceTest, MeasuredLatencyCapsTheModelledOne) {
  InferenceOptions o = OpenAiSetting(70, 70);
  auto uncapped = EstimateInference(o);
  o.latency_s = 10;
  auto capped = EstimateInference(o);
  ASSERT_TRUE(uncapped.ok() && capped.ok());
  EXPECT_DOUBLE_EQ(capped->latency.count(), 10);
  EXPECT_LT(capped->energy.value(), uncapped->energy.value());
  EXPECT_LT(capped->embodied_co2e.value(), uncapped->embodied_co2e.value());
  // The GPU term depends on tokens only.
  EXPECT_DOUBLE_EQ(capped->gpu_energy.value(), uncapped->gpu_energy.value());
  EXPECT_TRUE(HasWarning(capped->warnings, "measured latency"));
  o.latency_s = 1000;  // Longer than modelled: the model wins.
  auto long_latency = EstimateInference(o);
  ASSERT_TRUE(long_latency.ok());
  EXPECT_DOUBLE_EQ(long_latency->latency.count(), uncapped->latency.count());
}

TEST(EstimateInferenceTest, DefaultsAreEcoLogitsOpenAiSettingsWithWorldIntensity) {
  InferenceOptions o;
  o.total_params_b = 70;
  o.output_tokens = 500;
  auto e = EstimateInference(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_NEAR(e->energy.value(), 0.329, 0.0005);
  EXPECT_NEAR(e->water.value() * 1000, 1.42, 0.005);
  EXPECT_TRUE(e->intensity.is_world_fallback);
  EXPECT_TRUE(HasWarning(e->warnings, "world average used"));
}

TEST(EstimateInferenceTest, LargeModelsAreFlaggedOutsideTheFit) {
  auto e = EstimateInference(OpenAiSetting(405, 405));
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(HasWarning(e->warnings, "fitted on"));
}

TEST(EstimateInferenceTest, ZeroTokensCostNothing) {
  InferenceOptions o = OpenAiSetting(7, 7);
  o.output_tokens = 0;
  auto e = EstimateInference(o);
  ASSERT_TRUE(e.ok());
  EXPECT_DOUBLE_EQ(e->energy.value(), 0);
  EXPECT_DOUBLE_EQ(e->embodied_co2e.value(), 0);
}

template <typename Mutate>
void ExpectInferenceError(Mutate mutate, const std::string& flag) {
  InferenceOptions o = OpenAiSetting(70, 70);
  mutate(o);
  auto e = EstimateInference(o);
  ASSERT_FALSE(e.ok()) << "expected an error naming " << flag;
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument) << e.status().ToString();
  EXPECT_NE(e.status().message().find(flag), std::string::npos) << e.status().message();
}

TEST(EstimateInferenceTest, RejectsAbsurdValues) {
  ExpectInferenceError([](InferenceOptions& o) { o.total_params_b = 0; }, "--params");
  ExpectInferenceError([](InferenceOptions& o) { o.total_params_b = kNaN; }, "--params");
  ExpectInferenceError([](InferenceOptions& o) { o.total_params_b = 1e9; }, "--params");
  ExpectInferenceError([](InferenceOptions& o) { o.active_params_b = 80; },
                       "--active-params must not exceed --params");
  ExpectInferenceError([](InferenceOptions& o) { o.active_params_b = -1; }, "--active-params");
  ExpectInferenceError([](InferenceOptions& o) { o.output_tokens = -1; }, "--output-tokens");
  ExpectInferenceError([](InferenceOptions& o) { o.latency_s = 0; }, "--latency-s");
  ExpectInferenceError([](InferenceOptions& o) { o.batch_size = 0; }, "--batch");
  ExpectInferenceError([](InferenceOptions& o) { o.pue = 0.9; },
                       "--pue must be between 1.0 and 5.0, got 0.9");
  ExpectInferenceError([](InferenceOptions& o) { o.wue_onsite_l_per_kwh = -1; }, "--wue");
  ExpectInferenceError([](InferenceOptions& o) { o.wue_mix_l_per_kwh = kNaN; }, "--wue-mix");
  ExpectInferenceError([](InferenceOptions& o) { o.intensity.zone = "FR"; }, "not both");
  ExpectInferenceError([](InferenceOptions& o) { o.gpu_memory_gb = 0; }, "gpu_memory_gb");
}

// ---- Service.

TEST(EstimateServiceTest, SumsRequestsAndChargesTraining) {
  ServiceOptions o;
  o.requests_per_day = 10000;
  o.days = 365;
  o.inference = OpenAiSetting(70, 70);
  o.training = MetaRecipe(1720320, 400);  // Llama 2 70B.
  auto e = EstimateService(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const double requests = 3.65e6;
  EXPECT_DOUBLE_EQ(e->requests, requests);
  EXPECT_NEAR(e->inference_energy.value(), e->per_request.energy.value() * requests / 1000,
              1e-9);
  EXPECT_NEAR(e->inference_usage_co2e.value(), e->per_request.usage_co2e.value() * requests,
              1e-6);
  ASSERT_TRUE(e->training.has_value());
  EXPECT_DOUBLE_EQ(e->training_fraction, 1.0);
  EXPECT_NEAR(e->training_co2e.value() / 1e6, 291.42, 0.01);
  const double inference_g =
      (e->per_request.usage_co2e + e->per_request.embodied_co2e).value() * requests;
  EXPECT_NEAR(e->co2e.value(), inference_g + e->training_co2e.value(), 1e-3);
  EXPECT_NEAR(e->inference_share + e->training_share, 1.0, 1e-12);
  EXPECT_NEAR(e->inference_share, inference_g / e->co2e.value(), 1e-12);
  EXPECT_GT(e->training_share, 0.99);  // 0.55 t of inference against 291 t of training.
}

TEST(EstimateServiceTest, AmortisesTrainingOverTheModelLifetime) {
  ServiceOptions o;
  o.requests_per_day = 1000;
  o.days = 30;
  o.inference = OpenAiSetting(7, 7);
  o.training = MetaRecipe(184320, 400);
  o.training->include_embodied = true;
  o.training->gpu_embodied_kgco2e = 150;
  o.training->server_embodied_kgco2e = 2500;
  o.training->lifetime_hours = 35040;
  o.model_lifetime_days = 365;
  auto e = EstimateService(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_NEAR(e->training_fraction, 30.0 / 365, 1e-12);
  ASSERT_TRUE(e->training->embodied.has_value());
  const double whole = e->training->co2e.value() + e->training->embodied->total().value();
  EXPECT_NEAR(e->training_co2e.value(), whole * 30 / 365, 1e-6);
  EXPECT_NEAR(e->training_energy.value(), e->training->energy.value() * 30 / 365, 1e-9);
}

TEST(EstimateServiceTest, WithoutTrainingAllIsInference) {
  ServiceOptions o;
  o.requests_per_day = 100;
  o.days = 1;
  o.inference = OpenAiSetting(70, 70);
  auto e = EstimateService(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_FALSE(e->training.has_value());
  EXPECT_DOUBLE_EQ(e->inference_share, 1.0);
  EXPECT_DOUBLE_EQ(e->training_share, 0.0);
  EXPECT_NEAR(e->water.value(), e->per_request.water.value() * 100, 1e-12);
}

TEST(EstimateServiceTest, ErrorsNameServiceAndTrainFlags) {
  ServiceOptions o;
  o.requests_per_day = 100;
  o.days = 0;
  o.inference = OpenAiSetting(70, 70);
  auto e = EstimateService(o);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(), "--days must be greater than 0 and at most 36500, got 0");

  o.days = 10;
  o.requests_per_day = -5;
  e = EstimateService(o);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("--requests-per-day"), std::string::npos);

  o.requests_per_day = 5;
  o.training = MetaRecipe(1000, 400);
  o.training->pue = 0.5;
  e = EstimateService(o);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(), "--train-pue must be between 1.0 and 5.0, got 0.5");

  o.training.reset();
  o.model_lifetime_days = 100;
  e = EstimateService(o);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("--train-amortise-days"), std::string::npos);
}

}  // namespace
}  // namespace sobre::footprint
