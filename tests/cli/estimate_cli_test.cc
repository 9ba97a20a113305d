// End to end: the real `sobre estimate` binary, its stdout JSON and text, stderr and exit codes.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

// Header-only Boost.JSON: this test links sobre_core only.
#include <boost/json/src.hpp>
#include <gtest/gtest.h>

namespace {

namespace json = boost::json;

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs SOBRE_BINARY with `args`, stdout and stderr captured in temporary files.
Result Sobre(const std::vector<std::string>& args) {
  char out_path[] = "/tmp/sobre_estimate_out_XXXXXX";
  char err_path[] = "/tmp/sobre_estimate_err_XXXXXX";
  int out_fd = ::mkstemp(out_path);
  int err_fd = ::mkstemp(err_path);
  Result r;
  if (out_fd < 0 || err_fd < 0) {
    ADD_FAILURE() << "mkstemp failed";
    return r;
  }
  std::vector<std::string> argv_storage = {SOBRE_BINARY};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::execv(argv[0], argv.data());
    std::_Exit(127);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) {
    ADD_FAILURE() << "could not run " << SOBRE_BINARY;
  } else if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else {
    ADD_FAILURE() << "sobre died with signal " << WTERMSIG(status);
  }
  ::close(out_fd);
  ::close(err_fd);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  ::unlink(out_path);
  ::unlink(err_path);
  return r;
}

json::object ParseObject(const Result& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.out, ec);
  if (ec || !v.is_object()) {
    ADD_FAILURE() << "stdout is not a JSON object: " << r.out;
    return {};
  }
  return v.as_object();
}

// A number member of `o` at `path` ("a.b"), NaN when absent.
double Number(const json::object& o, const std::string& path) {
  const json::object* cur = &o;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    const size_t length = dot == std::string::npos ? std::string::npos : dot - start;
    const std::string key = path.substr(start, length);
    const json::value* v = cur->if_contains(key);
    if (v == nullptr) return NAN;
    if (dot == std::string::npos) {
      if (v->is_double()) return v->as_double();
      if (v->is_int64()) return static_cast<double>(v->as_int64());
      if (v->is_uint64()) return static_cast<double>(v->as_uint64());
      return NAN;
    }
    if (!v->is_object()) return NAN;
    cur = &v->as_object();
    start = dot + 1;
  }
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

bool HasAssumption(const json::object& o, const std::string& name, double value) {
  const json::value* list = o.if_contains("assumptions");
  if (list == nullptr || !list->is_array()) return false;
  for (const json::value& a : list->as_array()) {
    const json::object& obj = a.as_object();
    if (obj.at("name").as_string() == name.c_str() &&
        std::fabs(obj.at("value").to_number<double>() - value) <= 1e-9 * std::fabs(value) &&
        !obj.at("source").as_string().empty()) {
      return true;
    }
  }
  return false;
}

const std::vector<std::string> kLlama2SevenB = {"estimate",    "train", "--power-w", "400",
                                                "--gpu-hours", "184320", "--pue",   "1.1",
                                                "--intensity", "385"};

std::vector<std::string> With(std::vector<std::string> base,
                              const std::vector<std::string>& more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

TEST(EstimateCliTest, TrainReproducesLlama2SevenBAsJson) {
  Result r = Sobre(With(kLlama2SevenB, {"--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  json::object o = ParseObject(r);
  EXPECT_NEAR(Number(o, "co2e_kg"), 31224, 31224 * 0.005);
  EXPECT_NEAR(Number(o, "co2e_kg"), 31223.808, 0.01);
  EXPECT_NEAR(Number(o, "energy_kwh"), 81100.8, 0.01);
  EXPECT_NEAR(Number(o, "gpu_hours"), 184320, 1e-6);
  EXPECT_EQ(o.if_contains("embodied_co2e_kg"), nullptr);  // Not asked for.
  EXPECT_EQ(o.if_contains("water_l"), nullptr);           // No --wue.
  EXPECT_TRUE(HasAssumption(o, "PUE", 1.1));
  EXPECT_TRUE(HasAssumption(o, "memory power", 0.3725));
  EXPECT_TRUE(HasAssumption(o, "carbon intensity", 385));
}

TEST(EstimateCliTest, TrainByCatalogueGpuMatchesPower) {
  Result r = Sobre({"estimate", "train", "--gpu", "A100-SXM4-80GB", "--gpu-hours", "184320",
                    "--pue", "1.1", "--intensity", "385", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json::object o = ParseObject(r);
  EXPECT_NEAR(Number(o, "co2e_kg"), 31223.808, 0.01);
  EXPECT_NEAR(Number(o, "gpu_power_w"), 400, 1e-9);
}

TEST(EstimateCliTest, TrainHumanOutputListsConstantsAndSources) {
  Result r = Sobre(kLlama2SevenB);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "31224 kgCO2e (31.22 tCO2e)")) << r.out;
  EXPECT_TRUE(Contains(r.out, "Constants and sources")) << r.out;
  EXPECT_TRUE(Contains(r.out, "memory power 0.3725 W/GB — Green Algorithms v3.0")) << r.out;
  EXPECT_TRUE(Contains(r.out, "PUE 1.1 — given with --pue")) << r.out;
  EXPECT_TRUE(Contains(r.out, "carbon intensity 385 gCO2e/kWh — given with --intensity"))
      << r.out;
  EXPECT_FALSE(Contains(r.out, "world average")) << r.out;
}

TEST(EstimateCliTest, TrainFlagsTheWorldFallbackAndTheDefaultPue) {
  Result r = Sobre({"estimate", "train", "--power-w", "300", "--hours", "12"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "world average used: no --zone or --intensity given")) << r.out;
  EXPECT_TRUE(Contains(r.out, "PUE 1.56 — Green Algorithms v3.0")) << r.out;

  r = Sobre({"estimate", "train", "--power-w", "300", "--hours", "12", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json::object o = ParseObject(r);
  ASSERT_TRUE(o.contains("intensity"));
  EXPECT_TRUE(o.at("intensity").as_object().at("world_fallback").as_bool());
  // 3.6 kWh × 1.56 at the world average.
  EXPECT_NEAR(Number(o, "energy_kwh"), 5.616, 1e-9);
  EXPECT_NEAR(Number(o, "co2e_kg"), 5.616 * Number(o, "intensity.g_per_kwh") / 1000, 1e-9);
}

TEST(EstimateCliTest, TrainZoneNamesItsSource) {
  Result r = Sobre({"estimate", "train", "--power-w", "400", "--hours", "10", "--zone", "FR"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "gCO2e/kWh — FR, ")) << r.out;
  EXPECT_FALSE(Contains(r.out, "world average")) << r.out;
}

TEST(EstimateCliTest, TrainReproducesBloomWithEmbodiedAndWater) {
  Result r = Sobre({"estimate", "train", "--gpu", "A100-SXM4-80GB", "--count", "384",
                    "--gpu-hours", "1082990", "--pue", "1.0", "--intensity", "57", "--embodied",
                    "--gpu-embodied-kg", "150", "--server-embodied-kg", "2500",
                    "--lifetime-hours", "52560", "--lifetime-use", "0.85", "--wue", "1",
                    "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json::object o = ParseObject(r);
  EXPECT_NEAR(Number(o, "energy_kwh"), 433196, 0.5);
  EXPECT_NEAR(Number(o, "co2e_kg") / 1000, 24.69, 0.005);
  EXPECT_NEAR(Number(o, "embodied_co2e_kg") / 1000, 11.2, 0.05);
  EXPECT_NEAR(Number(o, "embodied.server_count"), 48, 0);
  EXPECT_NEAR(Number(o, "water_l"), 433196, 0.5);
}

TEST(EstimateCliTest, TrainUnknownGpuExitsTwoListingClosestNames) {
  Result r = Sobre({"estimate", "train", "--gpu", "A100-SXM9-80GB", "--hours", "1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(Contains(r.err, "--gpu")) << r.err;
  EXPECT_TRUE(Contains(r.err, "A100-SXM4-80GB")) << r.err;
}

TEST(EstimateCliTest, TrainBadPueExitsTwoNamingTheFlag) {
  Result r = Sobre({"estimate", "train", "--power-w", "400", "--gpu-hours", "184320", "--pue",
                    "0", "--intensity", "385"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(Contains(r.err, "--pue must be between 1.0 and 5.0, got 0")) << r.err;

  r = Sobre({"estimate", "train", "--power-w", "400", "--hours", "1", "--pue", "nan"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "--pue")) << r.err;

  r = Sobre({"estimate", "train", "--power-w", "400", "--hours", "1", "--pue", "abc"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "--pue")) << r.err;
}

TEST(EstimateCliTest, TrainOtherUsageErrorsExitTwo) {
  struct Case {
    std::vector<std::string> args;
    const char* expected;
  };
  const Case cases[] = {
      {{"estimate", "train", "--power-w", "400"}, "--hours or --gpu-hours is required"},
      {{"estimate", "train", "--power-w", "400", "--hours", "1", "--gpu-hours", "2"},
       "--hours or --gpu-hours, not both"},
      {{"estimate", "train", "--power-w", "400", "--hours", "2e6"}, "--hours must be"},
      {{"estimate", "train", "--power-w", "-5", "--hours", "1"}, "--power-w must be"},
      {{"estimate", "train", "--power-w", "400", "--hours", "1", "--count", "0"},
       "--count must be"},
      {{"estimate", "train", "--power-w", "400", "--hours", "1", "--count", "20000000"},
       "--count must be"},
      {{"estimate", "train", "--power-w", "400", "--hours", "1", "--usage", "1.5"},
       "--usage must be"},
      {{"estimate", "train", "--power-w", "400", "--hours", "1", "--zone", "FR", "--intensity",
        "50"},
       "not both"},
      {{"estimate", "train", "--power-w", "400", "--hours", "1", "--zone", "ATLANTIS"},
       "--zone"},
      {{"estimate", "train", "--power-w", "400", "--hours", "1", "--cpu", "Imaginary 9000"},
       "--cpu"},
      {{"estimate", "train", "--power-w", "400", "--hours", "1", "--bogus"}, "--bogus"},
      {{"estimate"}, "subcommand"},
  };
  for (const Case& c : cases) {
    Result r = Sobre(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.expected << "\n" << r.err;
    EXPECT_TRUE(Contains(r.err, c.expected)) << c.expected << "\n" << r.err;
    EXPECT_EQ(r.out, "") << c.expected;
  }
}

TEST(EstimateCliTest, TrainHelpExplainsFlagsAndUnits) {
  Result r = Sobre({"estimate", "train", "--help"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* flag :
       {"--gpu ", "--count", "--power-w", "--hours", "--gpu-hours", "--usage", "--cpu ",
        "--cpu-cores", "--cpu-power-w", "--cpu-usage", "--memory-gb", "--pue", "--zone",
        "--intensity", "--runs", "--wue", "--embodied", "--json", "gCO2e/kWh", "0.3725 W/GB"}) {
    EXPECT_TRUE(Contains(r.out, flag)) << flag << "\n" << r.out;
  }
}

TEST(EstimateCliTest, InferReproducesEcoLogitsSeventyB) {
  Result r = Sobre({"estimate", "infer", "--params", "70", "--output-tokens", "500",
                    "--intensity", "383.55", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  json::object o = ParseObject(r);
  EXPECT_NEAR(Number(o, "gpu_count"), 4, 0);
  EXPECT_NEAR(Number(o, "latency_s"), 43.5, 0.05);
  EXPECT_NEAR(Number(o, "energy_wh"), 0.329, 0.0005);
  EXPECT_NEAR(Number(o, "co2e_g"), 0.126, 0.0005);
  EXPECT_NEAR(Number(o, "embodied_co2e_g"), 0.025, 0.0005);
  EXPECT_NEAR(Number(o, "water_ml"), 1.42, 0.005);
  EXPECT_TRUE(HasAssumption(o, "alpha_E", 1.1665273170451914e-06));
  EXPECT_TRUE(HasAssumption(o, "PUE", 1.2));
}

TEST(EstimateCliTest, InferMixtureOfExpertsAndHumanOutput) {
  Result r = Sobre({"estimate", "infer", "--params", "440", "--active-params", "44",
                    "--output-tokens", "500", "--intensity", "383.55"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "GPUs          16")) << r.out;
  EXPECT_TRUE(Contains(r.out, "energy        1.06 Wh")) << r.out;
  EXPECT_TRUE(Contains(r.out, "Constants and sources")) << r.out;
  EXPECT_TRUE(Contains(r.out, "server power without GPUs 1.2 kW — BoaviztAPI")) << r.out;
}

TEST(EstimateCliTest, InferUsageErrors) {
  Result r = Sobre({"estimate", "infer", "--output-tokens", "500"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "--params")) << r.err;

  r = Sobre({"estimate", "infer", "--params", "70", "--output-tokens", "500", "--pue", "0.8"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "--pue must be between 1.0 and 5.0, got 0.8")) << r.err;

  r = Sobre({"estimate", "infer", "--params", "7", "--active-params", "70", "--output-tokens",
             "5"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "--active-params")) << r.err;
}

TEST(EstimateCliTest, ServiceSplitsInferenceAndTraining) {
  Result r = Sobre({"estimate", "service", "--requests-per-day", "1000000", "--days", "365",
                    "--params", "70", "--output-tokens", "500", "--intensity", "383.55",
                    "--train-power-w", "400", "--train-gpu-hours", "184320", "--train-pue",
                    "1.1", "--train-intensity", "385", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json::object o = ParseObject(r);
  EXPECT_NEAR(Number(o, "requests"), 365e6, 1e-3);
  EXPECT_NEAR(Number(o, "inference.per_request.energy_wh"), 0.329, 0.0005);
  EXPECT_NEAR(Number(o, "training.co2e_kg"), 31223.808, 0.01);
  const double inference_kg = Number(o, "split.inference_co2e_kg");
  // 365M requests × (0.126 + 0.025) g.
  EXPECT_NEAR(inference_kg, 365e6 * 0.151 / 1000, 365e6 * 0.002 / 1000);
  EXPECT_NEAR(Number(o, "co2e_kg"), inference_kg + 31223.808, 0.1);
  EXPECT_NEAR(Number(o, "split.inference_share") + Number(o, "split.training_share"), 1, 1e-12);
  EXPECT_NEAR(Number(o, "split.training_share"), 31223.808 / Number(o, "co2e_kg"), 1e-9);
}

TEST(EstimateCliTest, ServiceWithoutTrainingAndItsErrors) {
  Result r = Sobre({"estimate", "service", "--requests-per-day", "100", "--days", "10",
                    "--params", "7", "--output-tokens", "200"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "inference 100.0%, training 0.0%")) << r.out;

  r = Sobre({"estimate", "service", "--requests-per-day", "100", "--days", "10", "--params", "7",
             "--output-tokens", "200", "--train-power-w", "400", "--train-hours", "5",
             "--train-pue", "0.5"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "--train-pue must be between 1.0 and 5.0, got 0.5")) << r.err;

  r = Sobre({"estimate", "service", "--requests-per-day", "100", "--days", "0", "--params", "7",
             "--output-tokens", "200"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "--days")) << r.err;
}

}  // namespace
