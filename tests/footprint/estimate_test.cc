// Estimators against the published figures of reference/measurement.md §3.9 and §2.2-2.4, and
// their input checks.
#include "footprint/estimate.h"

#include <cmath>
#include <limits>
#include <string>

#include <gtest/gtest.h>

namespace sobre::footprint {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Meta's recipe for LLaMA 1 and Llama 2: GPU-hours × power × PUE 1.1 × 385 g/kWh.
TrainingOptions MetaRecipe(double gpu_hours, double power_w) {
  TrainingOptions o;
  o.gpu_power_w = power_w;
  o.gpu_hours = gpu_hours;
  o.pue = 1.1;
  o.intensity.g_per_kwh = 385;
  return o;
}

double Tonnes(const TrainingEstimate& e) { return e.co2e.value() / 1e6; }

bool HasAssumption(const std::vector<Assumption>& list, const std::string& name, double value,
                   const std::string& source_part) {
  for (const Assumption& a : list) {
    if (a.name == name && std::fabs(a.value - value) <= 1e-9 * std::fabs(value) &&
        a.source.find(source_part) != std::string::npos) {
      return true;
    }
  }
  return false;
}

bool HasWarning(const std::vector<std::string>& warnings, const std::string& part) {
  for (const std::string& w : warnings) {
    if (w.find(part) != std::string::npos) return true;
  }
  return false;
}

// ---- Training: published figures.

TEST(EstimateTrainingTest, ReproducesLlama2ModelCardRows) {
  struct Row {
    const char* model;
    double gpu_hours;
    double power_w;
    double published_t;
  };
  const Row rows[] = {
      {"7B", 184320, 400, 31.22},
      {"13B", 368640, 400, 62.44},
      {"34B", 1038336, 350, 153.90},
      {"70B", 1720320, 400, 291.42},
  };
  double total_t = 0;
  double total_gpu_hours = 0;
  for (const Row& row : rows) {
    auto e = EstimateTraining(MetaRecipe(row.gpu_hours, row.power_w));
    ASSERT_TRUE(e.ok()) << row.model << ": " << e.status().ToString();
    // Meta's figures look truncated, so allow 0.01 t (well inside 0.5%).
    EXPECT_NEAR(Tonnes(*e), row.published_t, 0.01) << row.model;
    EXPECT_NEAR(Tonnes(*e), row.published_t, row.published_t * 0.005) << row.model;
    EXPECT_DOUBLE_EQ(e->gpu_hours, row.gpu_hours) << row.model;
    total_t += Tonnes(*e);
    total_gpu_hours += row.gpu_hours;
  }
  EXPECT_NEAR(total_t, 539.00, 0.01);
  EXPECT_DOUBLE_EQ(total_gpu_hours, 3311616);
}

TEST(EstimateTrainingTest, Llama2SevenBEnergyAndPueAreExplicit) {
  auto e = EstimateTraining(MetaRecipe(184320, 400));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_NEAR(e->it_energy.value(), 73728.0, 1e-6);   // 184,320 h × 0.4 kW.
  EXPECT_NEAR(e->energy.value(), 81100.8, 1e-6);      // × PUE 1.1.
  EXPECT_NEAR(e->co2e.value() / 1000, 31223.808, 1e-3);
  EXPECT_TRUE(HasAssumption(e->assumptions, "PUE", 1.1, "--pue"));
  EXPECT_TRUE(HasAssumption(e->assumptions, "carbon intensity", 385, "--intensity"));
  EXPECT_FALSE(e->intensity.is_world_fallback);
  EXPECT_FALSE(HasWarning(e->warnings, "world average"));
  EXPECT_FALSE(e->embodied.has_value());
  EXPECT_FALSE(e->water.has_value());
}

TEST(EstimateTrainingTest, ReproducesLlama65B) {
  auto e = EstimateTraining(MetaRecipe(1022362, 400));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const double mwh = e->energy.value() / 1000;
  EXPECT_NEAR(mwh, 449, 449 * 0.005);
  EXPECT_EQ(std::floor(mwh), 449);  // The paper truncates: 449.8 MWh.
  EXPECT_NEAR(Tonnes(*e), 173, 173 * 0.005);
}

TEST(EstimateTrainingTest, ReproducesBloomDynamicEnergy) {
  TrainingOptions o;
  o.gpu_power_w = 400;
  o.gpu_count = 384;
  o.gpu_hours = 1082990;
  o.pue = 1.0;
  o.intensity.g_per_kwh = 57;
  auto e = EstimateTraining(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_NEAR(e->energy.value(), 433196, 0.5);
  EXPECT_NEAR(Tonnes(*e), 24.69, 0.005);
  EXPECT_NEAR(e->wall_hours, 1082990.0 / 384, 1e-6);  // 2,820.3 h per GPU.
}

TEST(EstimateTrainingTest, ReproducesBloomEmbodied) {
  TrainingOptions o;
  o.gpu_power_w = 400;
  o.gpu_count = 384;
  o.gpu_hours = 1082990;
  o.pue = 1.0;
  o.intensity.g_per_kwh = 57;
  o.include_embodied = true;
  o.gpu_embodied_kgco2e = 150;
  o.server_embodied_kgco2e = 2500;
  o.gpus_per_server = 8;
  o.lifetime_hours = 6 * 8760;
  o.lifetime_use = 0.85;
  auto e = EstimateTraining(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE(e->embodied.has_value());
  EXPECT_EQ(e->embodied->server_count, 48);
  EXPECT_NEAR(e->embodied->fraction, 0.0631, 0.00005);
  EXPECT_NEAR(e->embodied->gpus.value() / 1e6, 3.64, 0.005);
  EXPECT_NEAR(e->embodied->servers.value() / 1e6, 7.58, 0.005);
  EXPECT_NEAR(e->embodied->total().value() / 1e6, 11.2, 0.05);
  // Embodied is reported beside, not inside, the use-phase figure.
  EXPECT_NEAR(Tonnes(*e), 24.69, 0.005);
}

TEST(EstimateTrainingTest, ReproducesGpt3FromEnergy) {
  // 1,287 MWh at 429 g/kWh: 1,287,000 h of a 1 kW load with PUE 1.
  TrainingOptions o;
  o.gpu_power_w = 1000;
  o.gpu_hours = 1287000;
  o.pue = 1.0;
  o.intensity.g_per_kwh = 429;
  auto e = EstimateTraining(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_NEAR(e->energy.value(), 1287000, 1e-3);
  EXPECT_NEAR(Tonnes(*e), 552, 0.5);
}

TEST(EstimateTrainingTest, ReproducesGpt3FromPattersonInputs) {
  // 10,000 V100 for 14.8 days at 330 W, PUE 1.1: 1,289 MWh against the published 1,287.
  TrainingOptions o;
  o.gpu_power_w = 330;
  o.gpu_count = 10000;
  o.hours = 14.8 * 24;
  o.pue = 1.1;
  o.intensity.g_per_kwh = 429;
  auto e = EstimateTraining(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_NEAR(e->energy.value() / 1000, 1287, 1287 * 0.002);
  EXPECT_NEAR(Tonnes(*e), 552, 552 * 0.005);
  EXPECT_DOUBLE_EQ(e->gpu_hours, 10000 * 14.8 * 24);
}

TEST(EstimateTrainingTest, ReproducesGreenAlgorithmsWorkedExample) {
  // 12 h, 8 "Any" cores, one A100 80GB PCIe (300 W), 64 GB, PUE 1.56, world 475 g/kWh.
  TrainingOptions o;
  o.hours = 12;
  o.cpu_cores = 8;
  o.gpu_power_w = 300;
  o.memory_gb = 64;
  o.intensity.g_per_kwh = 475;
  auto e = EstimateTraining(o);  // PUE left at the Green Algorithms default.
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_NEAR(e->cpu_power.value(), 96, 1e-9);
  EXPECT_NEAR(e->memory_power.value(), 23.84, 1e-9);
  EXPECT_NEAR(e->it_power.value() * 1.56, 654.95, 0.01);
  EXPECT_NEAR(e->energy.value(), 7.859, 0.0005);
  EXPECT_NEAR(e->co2e.value(), 3733, 0.5);
  EXPECT_TRUE(HasAssumption(e->assumptions, "memory power", 0.3725, "Green Algorithms v3.0"));
  EXPECT_TRUE(HasAssumption(e->assumptions, "PUE", 1.56, "Green Algorithms v3.0"));
  EXPECT_TRUE(HasAssumption(e->assumptions, "CPU power per core (\"Any\" CPU)", 12,
                            "Green Algorithms"));
  EXPECT_TRUE(HasWarning(e->warnings, "\"Any\" CPU"));
}

TEST(EstimateTrainingTest, UsageFactorsRunsAndWater) {
  TrainingOptions o;
  o.gpu_power_w = 400;
  o.gpu_count = 2;
  o.hours = 10;
  o.gpu_usage = 0.5;
  o.cpu_cores = 4;
  o.cpu_power_per_core_w = 10;
  o.cpu_usage = 0.25;
  o.pue = 1.2;
  o.runs = 3;
  o.intensity.g_per_kwh = 100;
  o.wue_l_per_kwh = 1.8;
  auto e = EstimateTraining(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  // IT power: 2 × 400 × 0.5 + 4 × 10 × 0.25 = 410 W; × 10 h × 3 runs = 12.3 kWh.
  EXPECT_NEAR(e->it_power.value(), 410, 1e-9);
  EXPECT_NEAR(e->it_energy.value(), 12.3, 1e-9);
  EXPECT_NEAR(e->energy.value(), 14.76, 1e-9);
  EXPECT_NEAR(e->co2e.value(), 1476, 1e-6);
  ASSERT_TRUE(e->water.has_value());
  EXPECT_NEAR(e->water->value(), 1.8 * 12.3, 1e-9);  // WUE applies to IT energy.
  EXPECT_DOUBLE_EQ(e->gpu_hours, 20);
}

TEST(EstimateTrainingTest, GpuHoursAndHoursGiveTheSameEnergy) {
  TrainingOptions by_hours;
  by_hours.gpu_power_w = 700;
  by_hours.gpu_count = 16;
  by_hours.hours = 100;
  by_hours.memory_gb = 512;
  by_hours.intensity.g_per_kwh = 300;
  TrainingOptions by_gpu_hours = by_hours;
  by_gpu_hours.hours.reset();
  by_gpu_hours.gpu_hours = 1600;
  auto a = EstimateTraining(by_hours);
  auto b = EstimateTraining(by_gpu_hours);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NEAR(a->energy.value(), b->energy.value(), 1e-9);
  EXPECT_DOUBLE_EQ(b->wall_hours, 100);  // Memory is counted over wall-clock hours.
}

TEST(EstimateTrainingTest, CpuOnlyJob) {
  TrainingOptions o;
  o.hours = 2;
  o.cpu_cores = 16;
  o.cpu_power_per_core_w = 5;
  o.pue = 1.0;
  o.intensity.g_per_kwh = 50;
  auto e = EstimateTraining(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->gpu_count, 0);
  EXPECT_DOUBLE_EQ(e->gpu_hours, 0);
  EXPECT_NEAR(e->energy.value(), 0.16, 1e-12);
}

TEST(EstimateTrainingTest, WorldFallbackIsFlagged) {
  TrainingOptions o;
  o.gpu_power_w = 400;
  o.hours = 1;
  auto e = EstimateTraining(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_TRUE(e->intensity.is_world_fallback);
  EXPECT_GT(e->intensity.g_per_kwh, 0);
  EXPECT_TRUE(HasWarning(e->warnings, "world average used: no --zone or --intensity given"));
  EXPECT_NEAR(e->co2e.value(), e->energy.value() * e->intensity.g_per_kwh, 1e-9);
}

TEST(EstimateTrainingTest, ZoneUsesTheTable) {
  auto fr = IntensityTable::Builtin().Lookup("FR");
  ASSERT_TRUE(fr.ok()) << fr.status().ToString();
  TrainingOptions o;
  o.gpu_power_w = 400;
  o.hours = 10;
  o.pue = 1.0;
  o.intensity.zone = "fr";
  auto e = EstimateTraining(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_DOUBLE_EQ(e->intensity.g_per_kwh, fr->g_per_kwh);
  EXPECT_FALSE(e->intensity.is_world_fallback);
  EXPECT_NEAR(e->co2e.value(), 4.0 * fr->g_per_kwh, 1e-9);
  EXPECT_TRUE(HasAssumption(e->assumptions, "carbon intensity", fr->g_per_kwh, "FR, "));
}

TEST(EstimateTrainingTest, CatalogueGpuGivesTdpAndSource) {
  auto spec = HardwareCatalogue::Builtin().FindGpu("A100-SXM4-80GB");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_DOUBLE_EQ((*spec)->tdp_w, 400);  // The Llama 2 card's "TDP 350-400 W".
  TrainingOptions o;
  o.gpu_name = "a100 sxm4 80gb";
  o.gpu_hours = 184320;
  o.pue = 1.1;
  o.intensity.g_per_kwh = 385;
  auto e = EstimateTraining(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_NEAR(Tonnes(*e), 31.22, 0.01);
  EXPECT_TRUE(HasAssumption(e->assumptions, "GPU power (A100-SXM4-80GB TDP)", 400,
                            (*spec)->source));
}

TEST(EstimateTrainingTest, PowerOverridesCatalogueTdp) {
  TrainingOptions o;
  o.gpu_name = "A100-SXM4-80GB";
  o.gpu_power_w = 350;
  o.gpu_hours = 1038336;
  o.pue = 1.1;
  o.intensity.g_per_kwh = 385;
  auto e = EstimateTraining(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_NEAR(Tonnes(*e), 153.90, 0.01);
}

TEST(EstimateTrainingTest, CatalogueCpuGivesPowerPerCore) {
  const HardwareCatalogue& catalogue = HardwareCatalogue::Builtin();
  const CpuSpec* cpu = nullptr;
  for (const CpuSpec& c : catalogue.cpus()) {
    if (c.cores > 0 && c.tdp_w > 0) {
      cpu = &c;
      break;
    }
  }
  ASSERT_NE(cpu, nullptr) << "the catalogue has no CPU with TDP and cores";
  TrainingOptions o;
  o.cpu_name = cpu->name;
  o.hours = 10;
  o.pue = 1.0;
  o.intensity.g_per_kwh = 100;
  auto e = EstimateTraining(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  // Cores default to one package: the whole TDP.
  EXPECT_NEAR(e->cpu_power.value(), cpu->tdp_w, 1e-9);
  o.cpu_cores = 2;
  o.cpu_usage = 0.5;
  e = EstimateTraining(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_NEAR(e->cpu_power.value(), cpu->tdp_w / cpu->cores, 1e-9);
}

TEST(EstimateTrainingTest, EmbodiedFromCatalogue) {
  const HardwareCatalogue& catalogue = HardwareCatalogue::Builtin();
  auto server = catalogue.FindServer("generic-server");
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const GpuSpec* gpu = nullptr;
  for (const GpuSpec& g : catalogue.gpus()) {
    if (g.embodied_kgco2e.has_value()) {
      gpu = &g;
      break;
    }
  }
  ASSERT_NE(gpu, nullptr) << "the catalogue has no GPU with an embodied figure";
  TrainingOptions o;
  o.gpu_name = gpu->name;
  o.gpu_count = 16;
  o.hours = 100;
  o.intensity.g_per_kwh = 100;
  o.include_embodied = true;
  auto e = EstimateTraining(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE(e->embodied.has_value());
  const double lifetime =
      (*server)->lifetime_hours > 0 ? (*server)->lifetime_hours : kBoaviztaServerLifetimeHours;
  EXPECT_EQ(e->embodied->server_count, 2);
  EXPECT_NEAR(e->embodied->gpus.value(), 1000 * 16 * *gpu->embodied_kgco2e * 100 / lifetime,
              1e-6);
  EXPECT_NEAR(e->embodied->servers.value(), 1000 * 2 * (*server)->embodied_kgco2e * 100 / lifetime,
              1e-6);
}

TEST(EstimateTrainingTest, BloomEmbodiedFromCatalogueDefaults) {
  // The catalogue ships the BLOOM paper's figures: A100 150 kg, generic-server 2500 kg, 6 years.
  TrainingOptions o;
  o.gpu_name = "A100-SXM4-80GB";
  o.gpu_count = 384;
  o.gpu_hours = 1082990;
  o.pue = 1.0;
  o.intensity.g_per_kwh = 57;
  o.include_embodied = true;
  o.lifetime_use = 0.85;
  auto e = EstimateTraining(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE(e->embodied.has_value());
  EXPECT_NEAR(e->embodied->total().value() / 1e6, 11.2, 0.05);
  EXPECT_NEAR(e->energy.value(), 433196, 0.5);
  EXPECT_TRUE(HasAssumption(e->assumptions, "GPU embodied (A100-SXM4-80GB)", 150, "BLOOM"));
  EXPECT_TRUE(
      HasAssumption(e->assumptions, "server embodied (generic-server, without GPUs)", 2500, ""));
  EXPECT_TRUE(HasAssumption(e->assumptions, "hardware lifetime", 52560, ""));
}

TEST(EstimateTrainingTest, GpuWithoutEmbodiedFigureFallsBackToH100AndSaysSo) {
  TrainingOptions o;
  o.gpu_power_w = 300;
  o.hours = 35040;
  o.intensity.g_per_kwh = 100;
  o.include_embodied = true;
  o.server_embodied_kgco2e = 0;
  o.lifetime_hours = 35040;
  auto e = EstimateTraining(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE(e->embodied.has_value());
  EXPECT_NEAR(e->embodied->gpus.value(), 164000, 1e-6);  // Whole life: fraction 1.
  EXPECT_TRUE(HasWarning(e->warnings, "164"));
}

// ---- Boavizta allocation.

TEST(AllocateEmbodiedTest, ReproducesBoaviztaExample) {
  EXPECT_NEAR(AllocateEmbodied(5700, 1, 35040), 0.1627, 0.00005);
  EXPECT_DOUBLE_EQ(AllocateEmbodied(5700, 70080, 35040), 5700);  // Capped at the whole life.
  EXPECT_DOUBLE_EQ(AllocateEmbodied(5700, 0, 35040), 0);
  EXPECT_DOUBLE_EQ(AllocateEmbodied(5700, 1, 0), 0);
}

TEST(AllocateEmbodiedTest, TrainingServerShareMatchesBoavizta) {
  TrainingOptions o;
  o.gpu_power_w = 400;
  o.hours = 1;
  o.intensity.g_per_kwh = 100;
  o.include_embodied = true;
  o.gpu_embodied_kgco2e = 0;
  o.server_embodied_kgco2e = 5700;
  o.lifetime_hours = 35040;
  auto e = EstimateTraining(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE(e->embodied.has_value());
  EXPECT_EQ(e->embodied->server_count, 1);
  EXPECT_NEAR(e->embodied->servers.value() / 1000, 0.1627, 0.00005);
}

// ---- Training: input checks.

TEST(EstimateTrainingTest, RejectsBadPueNamingTheFlag) {
  TrainingOptions o = MetaRecipe(1000, 400);
  o.pue = 0.8;
  auto e = EstimateTraining(o);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.status().message(), "--pue must be between 1.0 and 5.0, got 0.8");
  for (double bad : {0.0, -1.0, 5.5, kNaN, std::numeric_limits<double>::infinity()}) {
    o.pue = bad;
    e = EstimateTraining(o);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(e.status().message().rfind("--pue must be", 0), 0u) << e.status().message();
  }
}

// Runs `mutate` on a valid option set and expects InvalidArgument naming `flag`.
template <typename Mutate>
void ExpectTrainingError(Mutate mutate, const std::string& flag) {
  TrainingOptions o = MetaRecipe(1000, 400);
  mutate(o);
  auto e = EstimateTraining(o);
  ASSERT_FALSE(e.ok()) << "expected an error naming " << flag;
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument) << e.status().ToString();
  EXPECT_NE(e.status().message().find(flag), std::string::npos) << e.status().message();
}

TEST(EstimateTrainingTest, RejectsAbsurdValues) {
  ExpectTrainingError([](TrainingOptions& o) { o.gpu_usage = 0; }, "--usage");
  ExpectTrainingError([](TrainingOptions& o) { o.gpu_usage = 1.5; }, "--usage");
  ExpectTrainingError([](TrainingOptions& o) { o.gpu_usage = kNaN; }, "--usage");
  ExpectTrainingError([](TrainingOptions& o) { o.cpu_usage = -0.1; }, "--cpu-usage");
  ExpectTrainingError([](TrainingOptions& o) { o.gpu_count = 0; }, "--count");
  ExpectTrainingError([](TrainingOptions& o) { o.gpu_count = -4; }, "--count");
  ExpectTrainingError([](TrainingOptions& o) { o.gpu_count = 10'000'001; }, "--count");
  ExpectTrainingError([](TrainingOptions& o) { o.gpu_power_w = 0; }, "--power-w");
  ExpectTrainingError([](TrainingOptions& o) { o.gpu_power_w = -400; }, "--power-w");
  ExpectTrainingError([](TrainingOptions& o) { o.gpu_power_w = 1e6; }, "--power-w");
  ExpectTrainingError([](TrainingOptions& o) { o.gpu_hours = 0; }, "--gpu-hours");
  ExpectTrainingError([](TrainingOptions& o) { o.gpu_hours = kNaN; }, "--gpu-hours");
  ExpectTrainingError([](TrainingOptions& o) { o.gpu_hours = 1e14; }, "--gpu-hours");
  ExpectTrainingError(
      [](TrainingOptions& o) {
        o.gpu_hours.reset();
        o.hours = 2e6;
      },
      "--hours");
  ExpectTrainingError(
      [](TrainingOptions& o) {
        o.gpu_hours.reset();
        o.hours = -1;
      },
      "--hours");
  ExpectTrainingError([](TrainingOptions& o) { o.memory_gb = -1; }, "--memory-gb");
  ExpectTrainingError([](TrainingOptions& o) { o.runs = 0; }, "--runs");
  ExpectTrainingError([](TrainingOptions& o) { o.runs = 1e7; }, "--runs");
  ExpectTrainingError([](TrainingOptions& o) { o.wue_l_per_kwh = -0.5; }, "--wue");
  ExpectTrainingError([](TrainingOptions& o) { o.intensity.g_per_kwh = -1; }, "--intensity");
  ExpectTrainingError([](TrainingOptions& o) { o.intensity.g_per_kwh = 1e5; }, "--intensity");
  ExpectTrainingError([](TrainingOptions& o) { o.cpu_cores = 0; }, "--cpu-cores");
  ExpectTrainingError([](TrainingOptions& o) { o.cpu_power_per_core_w = 10; }, "--cpu-cores");
  ExpectTrainingError(
      [](TrainingOptions& o) {
        o.cpu_cores = 4;
        o.cpu_power_per_core_w = -3;
      },
      "--cpu-power-w");
  ExpectTrainingError(
      [](TrainingOptions& o) {
        o.include_embodied = true;
        o.lifetime_use = 0;
      },
      "--lifetime-use");
  ExpectTrainingError(
      [](TrainingOptions& o) {
        o.include_embodied = true;
        o.lifetime_hours = 0;
      },
      "--lifetime-hours");
  ExpectTrainingError(
      [](TrainingOptions& o) {
        o.include_embodied = true;
        o.gpu_embodied_kgco2e = -1;
      },
      "--gpu-embodied-kg");
  ExpectTrainingError(
      [](TrainingOptions& o) {
        o.include_embodied = true;
        o.gpus_per_server = 0;
      },
      "--gpus-per-server");
}

TEST(EstimateTrainingTest, RejectsContradictoryOrMissingInputs) {
  ExpectTrainingError([](TrainingOptions& o) { o.hours = 10; }, "--hours or --gpu-hours");
  ExpectTrainingError([](TrainingOptions& o) { o.gpu_hours.reset(); },
                      "--hours or --gpu-hours is required");
  ExpectTrainingError([](TrainingOptions& o) { o.intensity.zone = "FR"; },
                      "--zone or --intensity, not both");
  ExpectTrainingError([](TrainingOptions& o) { o.gpu_power_w.reset(); }, "--gpu");
  ExpectTrainingError(
      [](TrainingOptions& o) {
        o.gpu_power_w.reset();
        o.gpu_hours.reset();
        o.hours = 1;
        o.cpu_cores = 4;
        o.gpu_count = 8;
      },
      "--count needs --gpu or --power-w");
}

TEST(EstimateTrainingTest, UnknownGpuListsClosestNames) {
  TrainingOptions o = MetaRecipe(1000, 400);
  o.gpu_power_w.reset();
  o.gpu_name = "A100-SXM9-80GB";
  auto e = EstimateTraining(o);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(e.status().message().rfind("--gpu: ", 0), 0u) << e.status().message();
  EXPECT_NE(e.status().message().find("A100-SXM4-80GB"), std::string::npos)
      << e.status().message();
}

TEST(EstimateTrainingTest, UnknownCpuAndZoneAreNotFound) {
  TrainingOptions o = MetaRecipe(1000, 400);
  o.cpu_name = "Imaginary CPU 9999";
  auto e = EstimateTraining(o);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
  EXPECT_NE(e.status().message().find("--cpu"), std::string::npos);

  o = MetaRecipe(1000, 400);
  o.intensity.g_per_kwh.reset();
  o.intensity.zone = "XX-NOWHERE";
  e = EstimateTraining(o);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
  EXPECT_NE(e.status().message().find("--zone"), std::string::npos);
}

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
