// End-to-end tests of `sobre measure`: the real binary, real child processes, fake counters.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/cli/cli_runner.h"

namespace sobre {
namespace {

using testing::CliResult;
using testing::RunSobre;
using testing::TempDir;

// No RAPL, no NVML: what this VM and most cloud VMs look like.
const char kNoCounters[] = "SOBRE_POWERCAP_ROOT=/nonexistent SOBRE_NVML_LIBRARY=/nonexistent/libnvidia-ml.so";

boost::json::object ParseJson(const std::string& text) {
  boost::json::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  EXPECT_FALSE(ec) << "not JSON: " << text;
  return ec ? boost::json::object() : v.as_object();
}

double Num(const boost::json::value& v) { return v.is_double() ? v.as_double() : static_cast<double>(v.as_int64()); }

TEST(MeasureCliTest, PassesTheExitCodeThroughAndReportsAnEstimate) {
  TempDir dir;
  CliResult r = RunSobre(dir, "measure --json --zone FR -- sh -c 'exit 3'", kNoCounters);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  boost::json::object j = ParseJson(r.out);
  EXPECT_EQ(j["exit_code"].as_int64(), 3);
  EXPECT_EQ(j["method"].as_string(), "estimated");
  for (const char* key : {"energy_wh", "co2e_g", "embodied_co2e_g", "duration_s"}) {
    ASSERT_TRUE(j.contains(key)) << key;
    EXPECT_GE(Num(j[key]), 0.0) << key;
  }
  ASSERT_TRUE(j.contains("water_ml"));
  EXPECT_TRUE(j["water_ml"].is_null());  // No --wue given.
  EXPECT_EQ(j["intensity"].as_object()["zone"].as_string(), "FR");
  EXPECT_FALSE(j["intensity"].as_object()["world_fallback"].as_bool());
  boost::json::array sources = j["sources"].as_array();
  ASSERT_EQ(sources.size(), 2u);  // CPU and RAM models.
  for (const auto& s : sources) EXPECT_EQ(s.as_object().at("method").as_string(), "estimated");
  // The human summary goes to stderr and names the sources.
  EXPECT_NE(r.err.find("RAPL not used"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("estimated"), std::string::npos);
}

TEST(MeasureCliTest, CpuBoundCommandGetsMostOfTheMachineShare) {
  TempDir dir;
  CliResult r = RunSobre(
      dir,
      "measure --json --intensity 100 --cpu-tdp-w 50 -- sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done'",
      kNoCounters);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  boost::json::object j = ParseJson(r.out);
  EXPECT_GT(Num(j["process_cpu_s"]), 0.1);
  EXPECT_GT(Num(j["cpu_share"]), 0.3);
  EXPECT_GT(Num(j["energy_wh"]), 0.0);
  // carbon = energy x intensity, with PUE 1.
  EXPECT_NEAR(Num(j["co2e_g"]), Num(j["energy_wh"]) / 1000 * 100, 1e-9);
}

TEST(MeasureCliTest, NoZoneUsesTheWorldAverageAndSaysSo) {
  TempDir dir;
  CliResult r = RunSobre(dir, "measure --json -- true", kNoCounters);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  boost::json::object j = ParseJson(r.out);
  EXPECT_TRUE(j["intensity"].as_object()["world_fallback"].as_bool());
  EXPECT_NE(r.err.find("world average"), std::string::npos) << r.err;
}

TEST(MeasureCliTest, RaplCounterWrittenByTheCommandIsMeasured) {
  TempDir dir;
  std::string zone = dir.path() + "/powercap/intel-rapl:0";
  std::system(("mkdir -p '" + zone + "' && echo package-0 > '" + zone + "/name' && echo 1000000 > '" +
               zone + "/energy_uj' && echo 262143328850 > '" + zone + "/max_energy_range_uj'")
                  .c_str());
  // The command itself moves the counter by 36 J: 0.01 Wh.
  std::string cmd = "measure --json --whole-machine --zone FR --interval 30 -- sh -c 'echo 37000000 > \"" +
                    zone + "/energy_uj\"'";
  CliResult r = RunSobre(dir, cmd,
                         "SOBRE_POWERCAP_ROOT=" + dir.path() +
                             "/powercap SOBRE_NVML_LIBRARY=/nonexistent/libnvidia-ml.so");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  boost::json::object j = ParseJson(r.out);
  boost::json::array sources = j["sources"].as_array();
  ASSERT_GE(sources.size(), 1u);
  const boost::json::object& cpu = sources[0].as_object();
  EXPECT_EQ(cpu.at("component").as_string(), "cpu");
  EXPECT_EQ(cpu.at("method").as_string(), "measured");
  EXPECT_NEAR(Num(cpu.at("machine_energy_wh")), 0.01, 1e-9);
  EXPECT_NEAR(Num(cpu.at("energy_wh")), 0.01, 1e-9);  // --whole-machine.
}

TEST(MeasureCliTest, FakeNvmlGpuIsMeasuredAndChargedWhole) {
  TempDir dir;
  std::string config = dir.Write("nvml.conf", "gpu \"NVIDIA A100-SXM4-80GB\" energy 1000000 7200\n");
  // Discovery reads once, the baseline once, the last sample once: 7.2 J between baseline and end.
  CliResult r = RunSobre(dir, "measure --json --zone FR --interval 30 -- true",
                         std::string("SOBRE_POWERCAP_ROOT=/nonexistent SOBRE_NVML_LIBRARY=") +
                             FAKE_NVML_LIBRARY + " SOBRE_FAKE_NVML_CONFIG=" + config);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  boost::json::object j = ParseJson(r.out);
  bool found = false;
  for (const auto& s : j["sources"].as_array()) {
    const boost::json::object& o = s.as_object();
    if (o.at("component").as_string() != "gpu") continue;
    found = true;
    EXPECT_EQ(o.at("method").as_string(), "measured");
    EXPECT_NEAR(Num(o.at("energy_wh")), 7.2 / 3600, 1e-12);
    EXPECT_NE(std::string(o.at("source").as_string()).find("NVML total-energy counter"), std::string::npos);
  }
  EXPECT_TRUE(found) << r.out;
  // The A100's embodied carbon is amortised too.
  bool gpu_embodied = false;
  for (const auto& e : j["embodied"].as_array()) {
    gpu_embodied = gpu_embodied || std::string(e.as_object().at("item").as_string()).find("A100") != std::string::npos;
  }
  EXPECT_TRUE(gpu_embodied) << r.out;
}

TEST(MeasureCliTest, SigtermIsForwardedToTheCommand) {
  TempDir dir;
  std::string pidfile = dir.path() + "/pid";
  std::string cmd = std::string(kNoCounters) + " " + SOBRE_BINARY +
                    " measure --json -- sleep 30 >" + dir.path() + "/out 2>" + dir.path() +
                    "/err & echo $! > " + pidfile + "; wait $!";
  auto start = std::chrono::steady_clock::now();
  std::thread runner([&] {
    int status = std::system(("sh -c '" + cmd + "; echo $? > " + dir.path() + "/rc'").c_str());
    (void)status;
  });
  // Wait for the pid file, then for sobre to start its child, then signal sobre only.
  std::string pid;
  for (int i = 0; i < 100 && pid.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pid = dir.Read("pid");
  }
  ASSERT_FALSE(pid.empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ::kill(std::stoi(pid), SIGTERM);
  runner.join();
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(took, 10.0);
  EXPECT_EQ(std::stoi(dir.Read("rc")), 128 + SIGTERM);
  boost::json::object j = ParseJson(dir.Read("out"));
  EXPECT_EQ(j["signal"].as_int64(), SIGTERM);
}

TEST(MeasureCliTest, CommandNotFoundExits127) {
  TempDir dir;
  CliResult r = RunSobre(dir, "measure -- /nonexistent/command", kNoCounters);
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.err.find("cannot run '/nonexistent/command'"), std::string::npos) << r.err;
}

TEST(MeasureCliTest, CsvAppendsCodeCarbonRowsAndRefusesForeignFiles) {
  TempDir dir;
  std::string csv = dir.path() + "/emissions.csv";
  ASSERT_EQ(RunSobre(dir, "measure --zone FR --csv " + csv + " -- true", kNoCounters).exit_code, 0);
  ASSERT_EQ(RunSobre(dir, "measure --zone FR --csv " + csv + " --project-name demo -- true", kNoCounters).exit_code, 0);
  std::string text = dir.Read("emissions.csv");
  EXPECT_EQ(text.rfind("timestamp,project_name,run_id,duration,emissions,emissions_rate,cpu_power,gpu_power,ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,country_name,country_iso_code", 0), 0u) << text;
  int lines = 0;
  for (char c : text) lines += c == '\n';
  EXPECT_EQ(lines, 3);  // Header and two rows.
  EXPECT_NE(text.find(",demo,"), std::string::npos);
  // Every row has as many fields as the header.
  size_t header_commas = std::count(text.begin(), text.begin() + text.find('\n'), ',');
  size_t second = text.find('\n') + 1;
  std::string row = text.substr(second, text.find('\n', second) - second);
  EXPECT_EQ(static_cast<size_t>(std::count(row.begin(), row.end(), ',')), header_commas) << row;

  std::string foreign = dir.Write("other.csv", "a,b,c\n1,2,3\n");
  CliResult r = RunSobre(dir, "measure --zone FR --csv " + foreign + " -- true", kNoCounters);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("not appending"), std::string::npos) << r.err;
  EXPECT_EQ(dir.Read("other.csv"), "a,b,c\n1,2,3\n");  // Untouched.
}

TEST(MeasureCliTest, BadFlagsNameTheFlagAndExit2) {
  TempDir dir;
  CliResult r = RunSobre(dir, "measure --pue 0.5 -- true", kNoCounters);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--pue"), std::string::npos) << r.err;

  r = RunSobre(dir, "measure --zone Atlantis -- true", kNoCounters);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--zone"), std::string::npos) << r.err;

  r = RunSobre(dir, "measure --intensity 10 --intensity-file x.csv -- true", kNoCounters);
  EXPECT_EQ(r.exit_code, 2);

  r = RunSobre(dir, "measure --intensity -5 -- true", kNoCounters);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--intensity"), std::string::npos) << r.err;

  r = RunSobre(dir, "measure --json", kNoCounters);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no command"), std::string::npos) << r.err;
}

TEST(MeasureCliTest, ConfigFileSuppliesDefaultsAndTyposAreCaught) {
  TempDir dir;
  std::string good = dir.Write("good.yaml", "footprint:\n  zone: FR\n  pue: 1.5\n  wue_l_per_kwh: 1.8\n");
  CliResult r = RunSobre(dir, "measure --json --config " + good + " -- true", kNoCounters);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  boost::json::object j = ParseJson(r.out);
  EXPECT_DOUBLE_EQ(Num(j["pue"]), 1.5);
  EXPECT_FALSE(j["water_ml"].is_null());
  EXPECT_EQ(j["intensity"].as_object()["zone"].as_string(), "FR");
  // A flag beats the file.
  r = RunSobre(dir, "measure --json --pue 1.1 --config " + good + " -- true", kNoCounters);
  EXPECT_DOUBLE_EQ(Num(ParseJson(r.out)["pue"]), 1.1);

  std::string typo = dir.Write("typo.yaml", "footprint:\n  zone: FR\n  peu: 1.5\n");
  r = RunSobre(dir, "measure --config " + typo + " -- true", kNoCounters);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("typo.yaml:3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("footprint.pue"), std::string::npos) << r.err;
}

TEST(MeasureCliTest, HourlyIntensityFileIsAveragedOverTheRun) {
  TempDir dir;
  // A series covering the current hours at a constant 123 g/kWh.
  auto now = std::chrono::system_clock::now();
  std::string csv = "time,zone,gco2e_per_kwh\n";
  for (int h = -2; h <= 2; ++h) {
    std::time_t t = std::chrono::system_clock::to_time_t(now + std::chrono::hours(h));
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:00:00Z", &tm);
    csv += std::string(buf) + ",FR,123\n";
  }
  std::string path = dir.Write("hourly.csv", csv);
  CliResult r = RunSobre(dir, "measure --json --intensity-file " + path + " -- true", kNoCounters);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  boost::json::object j = ParseJson(r.out);
  EXPECT_DOUBLE_EQ(Num(j["intensity"].as_object()["g_per_kwh"]), 123.0);

  std::string stale = dir.Write("stale.csv", "time,zone,gco2e_per_kwh\n2001-01-01T00:00:00Z,FR,50\n");
  r = RunSobre(dir, "measure --intensity-file " + stale + " -- true", kNoCounters);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--intensity-file"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sobre
