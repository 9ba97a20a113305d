#include "footprint/hardware_catalogue.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <string>

namespace sobre::footprint {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Writes `text` to a fresh file under the test's temporary directory and returns its path.
std::string WriteTempFile(const std::string& name, const std::string& text) {
  std::string dir_template = ::testing::TempDir() + "/hwcat_XXXXXX";
  char* dir = mkdtemp(dir_template.data());
  EXPECT_NE(dir, nullptr);
  std::string path = std::string(dir) + "/" + name;
  std::ofstream(path) << text;
  return path;
}

const HardwareCatalogue& Cat() { return HardwareCatalogue::Builtin(); }

TEST(HardwareCatalogueTest, BuiltinHasEveryShippedFileWithSources) {
  EXPECT_GE(Cat().gpus().size(), 30u);
  EXPECT_GE(Cat().cpus().size(), 50u);
  EXPECT_GE(Cat().servers().size(), 2u);
  for (const GpuSpec& g : Cat().gpus()) {
    EXPECT_FALSE(g.source.empty()) << g.name;
    EXPECT_GT(g.tdp_w, 0) << g.name;
    EXPECT_GT(g.memory_gb, 0) << g.name;
  }
  for (const CpuSpec& c : Cat().cpus()) {
    EXPECT_FALSE(c.source.empty()) << c.name;
    EXPECT_GT(c.tdp_w, 0) << c.name;
    if (c.threads > 0) {
      EXPECT_GE(c.threads, c.cores) << c.name;
    }
  }
  for (const ServerSpec& s : Cat().servers()) {
    EXPECT_FALSE(s.source.empty()) << s.name;
    EXPECT_GT(s.embodied_kgco2e, 0) << s.name;
    EXPECT_GT(s.lifetime_hours, 0) << s.name;
  }
}

TEST(HardwareCatalogueTest, EveryNameAndAliasFindsItsOwnRow) {
  for (const GpuSpec& g : Cat().gpus()) {
    StatusOr<const GpuSpec*> by_name = Cat().FindGpu(g.name);
    ASSERT_TRUE(by_name.ok()) << by_name.status().ToString();
    EXPECT_EQ(*by_name, &g);
    for (const std::string& alias : g.aliases) {
      StatusOr<const GpuSpec*> by_alias = Cat().FindGpu(alias);
      ASSERT_TRUE(by_alias.ok()) << alias;
      EXPECT_EQ(*by_alias, &g) << alias << " found " << (*by_alias)->name;
    }
  }
  for (const CpuSpec& c : Cat().cpus()) {
    StatusOr<const CpuSpec*> found = Cat().FindCpu(c.name);
    ASSERT_TRUE(found.ok()) << c.name;
    EXPECT_EQ(*found, &c);
    // A /proc/cpuinfo string that is exactly the row's name must match that row.
    EXPECT_EQ(Cat().MatchCpuModelName(c.name), &c) << c.name;
  }
  for (const ServerSpec& s : Cat().servers()) {
    StatusOr<const ServerSpec*> found = Cat().FindServer(s.name);
    ASSERT_TRUE(found.ok()) << s.name;
    EXPECT_EQ(*found, &s);
  }
}

TEST(HardwareCatalogueTest, FindGpuMatchesNamesAliasesAndNvmlNames) {
  StatusOr<const GpuSpec*> a100 = Cat().FindGpu("NVIDIA A100-SXM4-80GB");
  ASSERT_TRUE(a100.ok()) << a100.status().ToString();
  EXPECT_EQ((*a100)->name, "A100-SXM4-80GB");
  EXPECT_EQ((*a100)->tdp_w, 400);
  EXPECT_EQ((*a100)->memory_gb, 80);
  ASSERT_TRUE((*a100)->embodied_kgco2e.has_value());
  EXPECT_EQ(*(*a100)->embodied_kgco2e, 150);

  // Case and punctuation do not matter.
  StatusOr<const GpuSpec*> spelled = Cat().FindGpu("a100 sxm4 80gb");
  ASSERT_TRUE(spelled.ok());
  EXPECT_EQ(*spelled, *a100);

  StatusOr<const GpuSpec*> h100 = Cat().FindGpu("NVIDIA H100 80GB HBM3");
  ASSERT_TRUE(h100.ok());
  EXPECT_EQ((*h100)->tdp_w, 700);
  ASSERT_TRUE((*h100)->embodied_kgco2e.has_value());
  EXPECT_EQ(*(*h100)->embodied_kgco2e, 164);

  struct Case {
    const char* name;
    double tdp_w;
  };
  for (const Case& c : {Case{"NVIDIA A100 80GB PCIe", 300}, Case{"NVIDIA A100-PCIE-40GB", 250},
                        Case{"NVIDIA H100 PCIe", 350}, Case{"NVIDIA H100 NVL", 400},
                        Case{"Tesla V100-SXM2-16GB", 300}, Case{"Tesla V100-PCIE-16GB", 250},
                        Case{"Tesla V100S-PCIE-32GB", 250}, Case{"Tesla T4", 70},
                        Case{"NVIDIA A10G", 150}, Case{"NVIDIA L4", 72},
                        Case{"Tesla P100-PCIE-16GB", 250}, Case{"NVIDIA GeForce RTX 2080 Ti", 250},
                        Case{"GeForce RTX 2080 Ti", 250}, Case{"RTX 3090", 350}}) {
    StatusOr<const GpuSpec*> g = Cat().FindGpu(c.name);
    ASSERT_TRUE(g.ok()) << c.name << ": " << g.status().ToString();
    EXPECT_EQ((*g)->tdp_w, c.tdp_w) << c.name;
  }
  // Without a published figure the embodied footprint stays unknown rather than zero.
  StatusOr<const GpuSpec*> t4 = Cat().FindGpu("T4");
  ASSERT_TRUE(t4.ok());
  EXPECT_FALSE((*t4)->embodied_kgco2e.has_value());
}

TEST(HardwareCatalogueTest, UnknownGpuListsClosestEntries) {
  StatusOr<const GpuSpec*> g = Cat().FindGpu("A100 SXM4 96GB");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(g.status().message(),
              StartsWith("unknown GPU 'A100 SXM4 96GB'; closest catalogue entries: "));
  EXPECT_THAT(g.status().message(), HasSubstr("A100-SXM4-"));

  StatusOr<const CpuSpec*> c = Cat().FindCpu("EPYC 7764");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), StartsWith("unknown CPU 'EPYC 7764'; closest"));
  EXPECT_THAT(c.status().message(), HasSubstr("AMD EPYC 7"));

  StatusOr<const ServerSpec*> s = Cat().FindServer("p5.48xlarg");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("p5.48xlarge"));

  EXPECT_FALSE(Cat().FindGpu("").ok());
  EXPECT_FALSE(Cat().FindGpu("---").ok());
}

TEST(HardwareCatalogueTest, FindCpuAndServerCarryVendorFigures) {
  StatusOr<const CpuSpec*> epyc = Cat().FindCpu("AMD EPYC 7763");
  ASSERT_TRUE(epyc.ok());
  EXPECT_EQ((*epyc)->tdp_w, 280);
  EXPECT_EQ((*epyc)->cores, 64);
  EXPECT_EQ((*epyc)->threads, 128);
  StatusOr<const CpuSpec*> bare = Cat().FindCpu("epyc 7763");  // Vendor word is optional.
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(*bare, *epyc);

  StatusOr<const CpuSpec*> gold = Cat().FindCpu("Xeon Gold 6248");
  ASSERT_TRUE(gold.ok());
  EXPECT_EQ((*gold)->tdp_w, 150);
  EXPECT_EQ((*gold)->cores, 20);
  EXPECT_EQ((*gold)->threads, 40);

  StatusOr<const ServerSpec*> generic = Cat().FindServer("generic-server");
  ASSERT_TRUE(generic.ok());
  EXPECT_EQ((*generic)->embodied_kgco2e, 2500);
  EXPECT_EQ((*generic)->lifetime_hours, 6 * 8760);
  StatusOr<const ServerSpec*> p5 = Cat().FindServer("P5.48XLARGE");
  ASSERT_TRUE(p5.ok());
  EXPECT_EQ((*p5)->embodied_kgco2e, 5700);
  EXPECT_EQ((*p5)->lifetime_hours, 3 * 8760);
}

TEST(HardwareCatalogueTest, MatchCpuModelNameReadsProcCpuinfoStrings) {
  struct Case {
    const char* model;
    const char* row;  // nullptr: no match expected.
  };
  for (const Case& c : {
           Case{"Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", "Intel Xeon Gold 6248"},
           // The R suffix is another part (205 W); it must not fall back to the 6248 row.
           Case{"Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", "Intel Xeon Gold 6248R"},
           Case{"AMD EPYC 7763 64-Core Processor", "AMD EPYC 7763"},
           Case{"AMD EPYC 9654 96-Core Processor", "AMD EPYC 9654"},
           Case{"Intel(R) Xeon(R) CPU E5-2680 v3 @ 2.50GHz", "Intel Xeon E5-2680 v3"},
           Case{"Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz", "Intel Xeon E5-2680 v4"},
           Case{"Intel(R) Xeon(R) Platinum 8480+", "Intel Xeon Platinum 8480+"},
           Case{"AMD Ryzen 9 3900X 12-Core Processor", "AMD Ryzen 9 3900X"},
           Case{"Intel(R) Core(TM) i5-10400 CPU @ 2.90GHz", "Intel Core i5-10400"},
           Case{"AMD EPYC", nullptr},
           Case{"", nullptr},
           Case{"AMD EPYC 7B13 64-Core Processor", nullptr},
           Case{"AMD EPYC 7543P 32-Core Processor", nullptr},  // Not the 7543 row.
           Case{"Intel(R) Xeon(R) Gold 6249 CPU @ 2.50GHz", nullptr},
           Case{"QEMU Virtual CPU version 2.5+", nullptr},
           // Two different rows match equally well: ambiguous.
           Case{"AMD EPYC 7763 / AMD EPYC 7713", nullptr},
       }) {
    const CpuSpec* cpu = Cat().MatchCpuModelName(c.model);
    if (c.row == nullptr) {
      EXPECT_EQ(cpu, nullptr) << "'" << c.model << "' matched " << cpu->name;
    } else {
      ASSERT_NE(cpu, nullptr) << c.model;
      EXPECT_EQ(cpu->name, c.row) << c.model;
    }
  }
  const CpuSpec* r = Cat().MatchCpuModelName("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->tdp_w, 205);
}

TEST(HardwareCatalogueTest, OverridesReplaceAndAddRows) {
  std::string path =
      WriteTempFile("overrides.csv",
                    "# Our lab's figures\n"
                    "kind,name,...\n"
                    "gpu,A100-SXM4-80GB,NVIDIA A100-SXM4-80GB|A100 capped,300,80,150,"
                    "\"power-capped to 300 W, lab note 2026\"\n"
                    "gpu,Lab Accelerator X1,LABX1|lab-x1 v2,123.5,32,,vendor sheet\n"
                    "cpu,Intel Xeon Gold 6248,140,20,40,measured\n"
                    "cpu,Acme A1 Server CPU,95,16,32,vendor sheet\n"
                    "server,lab-server,1200,35040,vendor EPD 2025\n");
  StatusOr<HardwareCatalogue> cat = HardwareCatalogue::WithOverrides(path);
  ASSERT_TRUE(cat.ok()) << cat.status().ToString();

  StatusOr<const GpuSpec*> a100 = cat->FindGpu("NVIDIA A100-SXM4-80GB");
  ASSERT_TRUE(a100.ok());
  EXPECT_EQ((*a100)->tdp_w, 300);
  EXPECT_EQ((*a100)->source, "power-capped to 300 W, lab note 2026");
  ASSERT_TRUE(cat->FindGpu("A100 capped").ok());
  EXPECT_EQ(cat->gpus().size(), Cat().gpus().size() + 1);

  StatusOr<const GpuSpec*> x1 = cat->FindGpu("lab x1 v2");
  ASSERT_TRUE(x1.ok());
  EXPECT_EQ((*x1)->name, "Lab Accelerator X1");
  EXPECT_EQ((*x1)->tdp_w, 123.5);
  EXPECT_FALSE((*x1)->embodied_kgco2e.has_value());

  EXPECT_EQ((*cat->FindCpu("Intel Xeon Gold 6248"))->tdp_w, 140);
  const CpuSpec* acme = cat->MatchCpuModelName("Acme(R) A1 Server CPU @ 3.00GHz");
  ASSERT_NE(acme, nullptr);
  EXPECT_EQ(acme->tdp_w, 95);
  EXPECT_EQ((*cat->FindServer("lab-server"))->lifetime_hours, 35040);

  // The builtin catalogue is untouched.
  EXPECT_EQ((*Cat().FindGpu("A100-SXM4-80GB"))->tdp_w, 400);
  EXPECT_EQ((*Cat().FindCpu("Intel Xeon Gold 6248"))->tdp_w, 150);
  EXPECT_FALSE(Cat().FindServer("lab-server").ok());
}

TEST(HardwareCatalogueTest, BadOverrideLinesAreRejectedWithFileLineAndColumn) {
  struct Case {
    const char* line;
    const char* error;
  };
  for (const Case& c : {
           Case{"gpu,X1,,abc,16,,src", "column tdp_w"},
           Case{"gpu,X1,,-5,16,,src", "column tdp_w: -5 is out of range"},
           Case{"gpu,X1,,1e9,16,,src", "column tdp_w: 1e9 is out of range"},
           Case{"gpu,X1,,300,16,-1,src", "column embodied_kgco2e"},
           Case{"gpu,X1,,300,16,,", "column source is empty"},
           Case{"gpu,,,300,16,,src", "column name is empty"},
           Case{"tpu,X1,,300,16,,src", "column kind: 'tpu'"},
           Case{"cpu,Foo,100,8", "expected 5 columns"},
           Case{"cpu,Foo,100,8,4,src", "column threads: 4 is fewer than the 8 cores"},
           Case{"cpu,Foo,100,eight,16,src", "column cores"},
           Case{"server,rack,0,1000,src", "column embodied_kgco2e"},
           Case{"gpu,My T4,Tesla T4,70,16,,src", "'Tesla T4' already names 'T4'"},
           Case{"gpu,X1,,\"300,16,,src", "unterminated quoted field"},
       }) {
    std::string path = WriteTempFile("bad.csv", std::string("# header comment\n") + c.line + "\n");
    StatusOr<HardwareCatalogue> cat = HardwareCatalogue::WithOverrides(path);
    ASSERT_FALSE(cat.ok()) << c.line;
    EXPECT_EQ(cat.status().code(), StatusCode::kInvalidArgument) << c.line;
    EXPECT_THAT(cat.status().message(), HasSubstr(path + ":2")) << c.line;
    EXPECT_THAT(cat.status().message(), HasSubstr(c.error)) << cat.status().message();
  }

  std::string twice = WriteTempFile("twice.csv",
                                    "gpu,X1,,300,16,,src\n"
                                    "\n"
                                    "gpu,x1,,310,16,,src\n");
  StatusOr<HardwareCatalogue> cat = HardwareCatalogue::WithOverrides(twice);
  ASSERT_FALSE(cat.ok());
  EXPECT_THAT(cat.status().message(), HasSubstr(twice + ":3"));
  EXPECT_THAT(cat.status().message(), HasSubstr("already given on line 1"));

  StatusOr<HardwareCatalogue> missing =
      HardwareCatalogue::WithOverrides(::testing::TempDir() + "/no/such/overrides.csv");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("no/such/overrides.csv"));
}

}  // namespace
}  // namespace sobre::footprint
