// Tests of RAPL discovery, domain selection and counter reading against fake powercap trees.
#include "footprint/rapl.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "fake_powercap.h"

namespace sobre::footprint {
namespace {

constexpr uint64_t kUjPerJ = 1000000;

const RaplDomainInfo* FindDomain(const RaplSetup& setup, const std::string& zone) {
  for (const RaplDomainInfo& domain : setup.domains) {
    if (domain.zone == zone) return &domain;
  }
  return nullptr;
}

std::string ReasonOf(const RaplSetup& setup, const std::string& zone) {
  const RaplDomainInfo* domain = FindDomain(setup, zone);
  return domain == nullptr ? "<no domain " + zone + ">" : domain->reason;
}

std::vector<std::string> Labels(const RaplSetup& setup) {
  std::vector<std::string> labels;
  for (const auto& counter : setup.counters) labels.push_back(counter->label());
  return labels;
}

std::vector<std::string> SelectedZones(const RaplSetup& setup) {
  std::vector<std::string> zones;
  for (const RaplDomainInfo& domain : setup.domains) {
    if (domain.selected) zones.push_back(domain.zone);
  }
  return zones;
}

// Samples every counter once and returns the summed energy in joules; a failed sample fails the
// test.
double SampleAll(RaplSetup& setup) {
  double total = 0;
  for (auto& counter : setup.counters) {
    StatusOr<Joules> energy = counter->Sample(std::chrono::steady_clock::now());
    EXPECT_TRUE(energy.ok()) << counter->label() << ": " << energy.status().ToString();
    if (energy.ok()) total += energy->value();
  }
  return total;
}

// One socket as sysfs shows it: package-N with core, uncore and dram subzones.
void AddSocket(FakePowercapTree& tree, int socket, uint64_t energy_uj = 1000 * kUjPerJ) {
  const std::string zone = "intel-rapl:" + std::to_string(socket);
  tree.AddZone(zone, "package-" + std::to_string(socket), energy_uj,
               FakePowercapTree::kTypicalMaxRangeUj);
  tree.AddZone(zone + ":0", "core", energy_uj, FakePowercapTree::kTypicalMaxRangeUj, zone);
  tree.AddZone(zone + ":1", "uncore", energy_uj, FakePowercapTree::kTypicalMaxRangeUj, zone);
  tree.AddZone(zone + ":2", "dram", energy_uj, 65712999613, zone);
}

TEST(DiscoverRaplTest, MissingPowercapTreeIsUnavailable) {
  FakePowercapTree tree;
  RaplSetup setup = DiscoverRapl(tree.root() + "/absent");
  EXPECT_TRUE(setup.counters.empty());
  EXPECT_TRUE(setup.domains.empty());
  EXPECT_EQ(setup.unavailable_reason, "no powercap tree at " + tree.root() + "/absent");
}

TEST(DiscoverRaplTest, ControlTypeDirectoryAloneIsNoDomain) {
  FakePowercapTree tree;
  std::error_code ec;
  ASSERT_TRUE(std::filesystem::create_directory(tree.root() + "/intel-rapl", ec)) << ec.message();
  RaplSetup setup = DiscoverRapl(tree.root());
  EXPECT_TRUE(setup.counters.empty());
  EXPECT_TRUE(setup.domains.empty());
  EXPECT_EQ(setup.unavailable_reason, "no RAPL domain found under " + tree.root());
}

TEST(DiscoverRaplTest, OneSocketCountsPackageAndDram) {
  FakePowercapTree tree;
  AddSocket(tree, 0);
  RaplSetup setup = DiscoverRapl(tree.root());

  EXPECT_EQ(setup.unavailable_reason, "");
  ASSERT_EQ(setup.counters.size(), 2u);
  EXPECT_EQ(Labels(setup),
            (std::vector<std::string>{"RAPL package-0 (socket 0)", "RAPL dram (socket 0)"}));
  EXPECT_EQ(setup.counters[0]->component(), Component::kCpu);
  EXPECT_EQ(setup.counters[1]->component(), Component::kDram);
  EXPECT_EQ(setup.counters[0]->method(), "RAPL energy_uj counter (powercap)");
  EXPECT_EQ(setup.counters[0]->device_index(), 0);
  EXPECT_EQ(setup.counters[1]->device_index(), 0);

  ASSERT_EQ(setup.domains.size(), 4u);  // the plain intel-rapl directory is not a domain
  const RaplDomainInfo* package = FindDomain(setup, "intel-rapl:0");
  ASSERT_NE(package, nullptr);
  EXPECT_EQ(package->name, "package-0");
  EXPECT_EQ(package->socket, 0);
  EXPECT_FALSE(package->mmio);
  EXPECT_TRUE(package->selected);
  EXPECT_EQ(package->reason, "selected");
  EXPECT_EQ(package->max_energy_range_uj, FakePowercapTree::kTypicalMaxRangeUj);
  const RaplDomainInfo* dram = FindDomain(setup, "intel-rapl:0:2");
  ASSERT_NE(dram, nullptr);
  EXPECT_EQ(dram->socket, 0);
  EXPECT_TRUE(dram->selected);
}

TEST(DiscoverRaplTest, DramIsCountedBesidePackage) {
  FakePowercapTree tree;
  AddSocket(tree, 0, 1000 * kUjPerJ);
  RaplSetup setup = DiscoverRapl(tree.root());
  ASSERT_EQ(setup.counters.size(), 2u);
  EXPECT_EQ(SampleAll(setup), 0.0);  // baseline

  tree.SetEnergy("intel-rapl:0", 1005 * kUjPerJ);
  tree.SetEnergy("intel-rapl:0:2", 1002 * kUjPerJ);
  EXPECT_DOUBLE_EQ(SampleAll(setup), 7.0);
}

TEST(DiscoverRaplTest, CoreAndUncoreAreNeverAdded) {
  FakePowercapTree tree;
  AddSocket(tree, 0, 1000 * kUjPerJ);
  RaplSetup setup = DiscoverRapl(tree.root());
  EXPECT_EQ(ReasonOf(setup, "intel-rapl:0:0"), "nested in package-0 (counted there)");
  EXPECT_EQ(ReasonOf(setup, "intel-rapl:0:1"), "nested in package-0 (counted there)");
  EXPECT_EQ(SelectedZones(setup), (std::vector<std::string>{"intel-rapl:0", "intel-rapl:0:2"}));
  EXPECT_EQ(SampleAll(setup), 0.0);

  tree.SetEnergy("intel-rapl:0", 1010 * kUjPerJ);
  tree.SetEnergy("intel-rapl:0:0", 1006 * kUjPerJ);
  tree.SetEnergy("intel-rapl:0:1", 1003 * kUjPerJ);
  tree.SetEnergy("intel-rapl:0:2", 1001 * kUjPerJ);
  EXPECT_DOUBLE_EQ(SampleAll(setup), 11.0);  // package 10 + dram 1; core and uncore are in the 10
}

TEST(DiscoverRaplTest, TwoSocketsCountBothPackagesAndDrams) {
  FakePowercapTree tree;
  AddSocket(tree, 0);
  AddSocket(tree, 1);
  RaplSetup setup = DiscoverRapl(tree.root());
  EXPECT_EQ(Labels(setup),
            (std::vector<std::string>{"RAPL package-0 (socket 0)", "RAPL dram (socket 0)",
                                      "RAPL package-1 (socket 1)", "RAPL dram (socket 1)"}));
  ASSERT_EQ(setup.counters.size(), 4u);
  EXPECT_EQ(setup.counters[2]->device_index(), 1);
  EXPECT_EQ(setup.counters[3]->device_index(), 1);
  EXPECT_EQ(setup.counters[3]->component(), Component::kDram);
  const RaplDomainInfo* core1 = FindDomain(setup, "intel-rapl:1:0");
  ASSERT_NE(core1, nullptr);
  EXPECT_EQ(core1->socket, 1);
  EXPECT_EQ(core1->reason, "nested in package-1 (counted there)");

  EXPECT_EQ(SampleAll(setup), 0.0);
  tree.SetEnergy("intel-rapl:0", 1004 * kUjPerJ);
  tree.SetEnergy("intel-rapl:1", 1008 * kUjPerJ);
  tree.SetEnergy("intel-rapl:1:2", 1002 * kUjPerJ);
  EXPECT_DOUBLE_EQ(SampleAll(setup), 14.0);
}

TEST(DiscoverRaplTest, ZonesAreOrderedByIndexNumerically) {
  FakePowercapTree tree;
  for (int socket : {10, 2, 0, 1}) {
    tree.AddZone("intel-rapl:" + std::to_string(socket), "package-" + std::to_string(socket),
                 1000);
  }
  RaplSetup setup = DiscoverRapl(tree.root());
  EXPECT_EQ(SelectedZones(setup), (std::vector<std::string>{"intel-rapl:0", "intel-rapl:1",
                                                            "intel-rapl:2", "intel-rapl:10"}));
  ASSERT_EQ(setup.counters.size(), 4u);
  EXPECT_EQ(setup.counters[3]->device_index(), 10);
}

TEST(DiscoverRaplTest, PsysBesidePackageIsNotAdded) {
  FakePowercapTree tree;
  AddSocket(tree, 0, 1000 * kUjPerJ);
  tree.AddZone("intel-rapl:1", "psys", 5000 * kUjPerJ);
  RaplSetup setup = DiscoverRapl(tree.root());
  EXPECT_EQ(SelectedZones(setup), (std::vector<std::string>{"intel-rapl:0", "intel-rapl:0:2"}));
  EXPECT_EQ(ReasonOf(setup, "intel-rapl:1"), "psys contains package and dram: not added");

  EXPECT_EQ(SampleAll(setup), 0.0);
  tree.SetEnergy("intel-rapl:0", 1003 * kUjPerJ);
  tree.SetEnergy("intel-rapl:0:2", 1001 * kUjPerJ);
  tree.SetEnergy("intel-rapl:1", 5009 * kUjPerJ);
  EXPECT_DOUBLE_EQ(SampleAll(setup), 4.0);
}

TEST(DiscoverRaplTest, PsysAloneIsCounted) {
  FakePowercapTree tree;
  tree.AddZone("intel-rapl:0", "psys", 5000 * kUjPerJ);
  RaplSetup setup = DiscoverRapl(tree.root());
  ASSERT_EQ(setup.counters.size(), 1u);
  EXPECT_EQ(setup.counters[0]->label(), "RAPL psys");
  EXPECT_EQ(setup.counters[0]->component(), Component::kPlatform);
  EXPECT_EQ(setup.counters[0]->device_index(), -1);
  EXPECT_EQ(ReasonOf(setup, "intel-rapl:0"), "selected");

  EXPECT_EQ(SampleAll(setup), 0.0);
  tree.SetEnergy("intel-rapl:0", 5012 * kUjPerJ);
  EXPECT_DOUBLE_EQ(SampleAll(setup), 12.0);
}

TEST(DiscoverRaplTest, PsysReplacesAnUnreadablePackageAndItsDram) {
  FakePowercapTree tree;
  AddSocket(tree, 0);
  tree.AddZone("intel-rapl:1", "psys", 5000 * kUjPerJ);
  tree.MakeEnergyUnreadable("intel-rapl:0");
  RaplSetup setup = DiscoverRapl(tree.root());
  EXPECT_EQ(SelectedZones(setup), (std::vector<std::string>{"intel-rapl:1"}));
  EXPECT_EQ(ReasonOf(setup, "intel-rapl:0:2"), "contained in psys (counted there)");
  EXPECT_EQ(ReasonOf(setup, "intel-rapl:0:0"), "nested in package-0 (never counted on its own)");
}

TEST(DiscoverRaplTest, MmioDuplicateIsCountedOnce) {
  FakePowercapTree tree;
  AddSocket(tree, 0, 1000 * kUjPerJ);
  tree.AddZone("intel-rapl-mmio:0", "package-0", 1000 * kUjPerJ);
  RaplSetup setup = DiscoverRapl(tree.root());
  EXPECT_EQ(SelectedZones(setup), (std::vector<std::string>{"intel-rapl:0", "intel-rapl:0:2"}));
  const RaplDomainInfo* mmio = FindDomain(setup, "intel-rapl-mmio:0");
  ASSERT_NE(mmio, nullptr);
  EXPECT_TRUE(mmio->mmio);
  EXPECT_EQ(mmio->socket, 0);
  EXPECT_EQ(mmio->reason, "duplicate of intel-rapl:0 (same domain under intel-rapl-mmio)");

  EXPECT_EQ(SampleAll(setup), 0.0);
  tree.SetEnergy("intel-rapl:0", 1005 * kUjPerJ);
  tree.SetEnergy("intel-rapl-mmio:0", 1005 * kUjPerJ);
  EXPECT_DOUBLE_EQ(SampleAll(setup), 5.0);
}

TEST(DiscoverRaplTest, MmioIsUsedWhenOnlyItIsReadable) {
  FakePowercapTree tree;
  AddSocket(tree, 0);
  tree.AddZone("intel-rapl-mmio:0", "package-0", 1000);
  tree.MakeEnergyUnreadable("intel-rapl:0");
  RaplSetup setup = DiscoverRapl(tree.root());
  EXPECT_EQ(SelectedZones(setup),
            (std::vector<std::string>{"intel-rapl:0:2", "intel-rapl-mmio:0"}));
  EXPECT_NE(ReasonOf(setup, "intel-rapl:0").find("counted through intel-rapl-mmio:0 instead"),
            std::string::npos)
      << ReasonOf(setup, "intel-rapl:0");
  EXPECT_EQ(Labels(setup),
            (std::vector<std::string>{"RAPL dram (socket 0)", "RAPL package-0 (socket 0)"}));
}

TEST(DiscoverRaplTest, MultiDiePackagesAreSummed) {
  FakePowercapTree tree;
  tree.AddZone("intel-rapl:0", "package-0-die-0", 100 * kUjPerJ);
  tree.AddZone("intel-rapl:1", "package-0-die-1", 200 * kUjPerJ);
  RaplSetup setup = DiscoverRapl(tree.root());
  EXPECT_EQ(Labels(setup), (std::vector<std::string>{"RAPL package-0-die-0 (socket 0)",
                                                     "RAPL package-0-die-1 (socket 0)"}));
  ASSERT_EQ(setup.counters.size(), 2u);
  EXPECT_EQ(setup.counters[1]->component(), Component::kCpu);
  EXPECT_EQ(setup.counters[1]->device_index(), 0);

  EXPECT_EQ(SampleAll(setup), 0.0);
  tree.SetEnergy("intel-rapl:0", 103 * kUjPerJ);
  tree.SetEnergy("intel-rapl:1", 204 * kUjPerJ);
  EXPECT_DOUBLE_EQ(SampleAll(setup), 7.0);
}

TEST(DiscoverRaplTest, UnreadableCounterIsReportedAndSkipped) {
  FakePowercapTree tree;
  AddSocket(tree, 0);
  AddSocket(tree, 1);
  tree.MakeEnergyUnreadable("intel-rapl:1");  // fails for root too: read() gives EISDIR
  RaplSetup setup = DiscoverRapl(tree.root());
  EXPECT_EQ(SelectedZones(setup), (std::vector<std::string>{"intel-rapl:0", "intel-rapl:0:2",
                                                            "intel-rapl:1:2"}));
  EXPECT_EQ(setup.counters.size(), 3u);
  EXPECT_EQ(setup.unavailable_reason, "");
  const std::string reason = ReasonOf(setup, "intel-rapl:1");
  EXPECT_EQ(reason.rfind("energy_uj unreadable: ", 0), 0u) << reason;
  EXPECT_NE(reason.find("Is a directory"), std::string::npos) << reason;
}

TEST(DiscoverRaplTest, PermissionDeniedCounterIsReportedForNonRoot) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads a chmod-000 file anyway";
  FakePowercapTree tree;
  AddSocket(tree, 0);
  tree.ChmodEnergy000("intel-rapl:0");
  RaplSetup setup = DiscoverRapl(tree.root());
  EXPECT_EQ(SelectedZones(setup), (std::vector<std::string>{"intel-rapl:0:2"}));
  const std::string reason = ReasonOf(setup, "intel-rapl:0");
  EXPECT_NE(reason.find("Permission denied"), std::string::npos) << reason;
  EXPECT_NE(reason.find("CVE-2020-8694"), std::string::npos) << reason;
}

TEST(DiscoverRaplTest, EveryCounterUnreadableSaysSo) {
  FakePowercapTree tree;
  AddSocket(tree, 0);
  tree.MakeEnergyUnreadable("intel-rapl:0");
  tree.MakeEnergyUnreadable("intel-rapl:0:2");
  RaplSetup setup = DiscoverRapl(tree.root());
  EXPECT_TRUE(setup.counters.empty());
  EXPECT_EQ(setup.domains.size(), 4u);
  EXPECT_EQ(setup.unavailable_reason.rfind("every energy_uj is unreadable (root-only since "
                                           "CVE-2020-8694; run as root or",
                                           0),
            0u)
      << setup.unavailable_reason;
}

TEST(DiscoverRaplTest, OnlyUncountableDomainsIsUnavailable) {
  FakePowercapTree tree;
  tree.AddZone("intel-rapl:0", "mystery", 1000);
  RaplSetup setup = DiscoverRapl(tree.root());
  EXPECT_TRUE(setup.counters.empty());
  EXPECT_EQ(ReasonOf(setup, "intel-rapl:0"), "unrecognised domain name: not counted");
  EXPECT_EQ(setup.unavailable_reason,
            "no countable RAPL domain (package, dram or psys) under " + tree.root());
}

TEST(DiscoverRaplTest, NestedDeviceLayoutWithoutSymlinksIsFound) {
  FakePowercapTree tree;
  AddSocket(tree, 0);
  RaplSetup setup = DiscoverRapl(tree.devices_root());
  EXPECT_EQ(SelectedZones(setup), (std::vector<std::string>{"intel-rapl:0", "intel-rapl:0:2"}));
  EXPECT_EQ(setup.domains.size(), 4u);
  EXPECT_EQ(ReasonOf(setup, "intel-rapl:0:1"), "nested in package-0 (counted there)");
}

TEST(RaplCounterTest, FirstSampleIsZeroThenDeltaInJoules) {
  FakePowercapTree tree;
  tree.AddZone("intel-rapl:0", "package-0", 7 * kUjPerJ);
  RaplSetup setup = DiscoverRapl(tree.root());
  ASSERT_EQ(setup.counters.size(), 1u);
  EnergyCounter& counter = *setup.counters[0];
  tree.SetEnergy("intel-rapl:0", 9 * kUjPerJ);  // after discovery: the baseline is the first sample
  StatusOr<Joules> first = counter.Sample(std::chrono::steady_clock::now());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->value(), 0.0);
  tree.SetEnergy("intel-rapl:0", 9 * kUjPerJ + 250000);
  StatusOr<Joules> second = counter.Sample(std::chrono::steady_clock::now());
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_DOUBLE_EQ(second->value(), 0.25);
}

TEST(RaplCounterTest, WrapAroundDuringTheRunGivesTheRightDelta) {
  FakePowercapTree tree;
  const uint64_t max_uj = FakePowercapTree::kTypicalMaxRangeUj;
  tree.AddZone("intel-rapl:0", "package-0", max_uj - 2 * kUjPerJ, max_uj);
  RaplSetup setup = DiscoverRapl(tree.root());
  ASSERT_EQ(setup.counters.size(), 1u);
  EnergyCounter& counter = *setup.counters[0];
  ASSERT_TRUE(counter.Sample(std::chrono::steady_clock::now()).ok());

  tree.SetEnergy("intel-rapl:0", 3 * kUjPerJ);  // wrapped: 2 J to the top, then 3 J
  StatusOr<Joules> wrapped = counter.Sample(std::chrono::steady_clock::now());
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
  EXPECT_DOUBLE_EQ(wrapped->value(), 5.0);

  tree.SetEnergy("intel-rapl:0", 4 * kUjPerJ);
  StatusOr<Joules> after = counter.Sample(std::chrono::steady_clock::now());
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_DOUBLE_EQ(after->value(), 1.0);
}

TEST(RaplCounterTest, BackwardsReadingWithUnknownRangeIsAnErrorNotNegative) {
  for (std::optional<uint64_t> range : {std::optional<uint64_t>(), std::optional<uint64_t>(0)}) {
    SCOPED_TRACE(range.has_value() ? "max_energy_range_uj 0" : "no max_energy_range_uj");
    FakePowercapTree tree;
    tree.AddZone("intel-rapl:0", "package-0", 50 * kUjPerJ, range);
    RaplSetup setup = DiscoverRapl(tree.root());
    ASSERT_EQ(setup.counters.size(), 1u);
    EXPECT_EQ(setup.domains[0].max_energy_range_uj, 0u);
    EnergyCounter& counter = *setup.counters[0];
    ASSERT_TRUE(counter.Sample(std::chrono::steady_clock::now()).ok());

    tree.SetEnergy("intel-rapl:0", 10 * kUjPerJ);
    StatusOr<Joules> backwards = counter.Sample(std::chrono::steady_clock::now());
    ASSERT_FALSE(backwards.ok()) << "got " << backwards->value() << " J";
    EXPECT_EQ(backwards.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(backwards.status().message().find("RAPL package-0 (socket 0)"), std::string::npos)
        << backwards.status().message();

    // Only that interval is lost: the next sample measures from the backwards reading.
    tree.SetEnergy("intel-rapl:0", 12 * kUjPerJ);
    StatusOr<Joules> next = counter.Sample(std::chrono::steady_clock::now());
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    EXPECT_DOUBLE_EQ(next->value(), 2.0);
  }
}

TEST(RaplCounterTest, MalformedReadingIsAnErrorAndKeepsTheLastGoodReading) {
  FakePowercapTree tree;
  tree.AddZone("intel-rapl:0", "package-0", 1 * kUjPerJ);
  RaplSetup setup = DiscoverRapl(tree.root());
  ASSERT_EQ(setup.counters.size(), 1u);
  EnergyCounter& counter = *setup.counters[0];
  ASSERT_TRUE(counter.Sample(std::chrono::steady_clock::now()).ok());

  tree.SetEnergyText("intel-rapl:0", "garbage\n");
  EXPECT_FALSE(counter.Sample(std::chrono::steady_clock::now()).ok());

  tree.SetEnergy("intel-rapl:0", 4 * kUjPerJ);
  StatusOr<Joules> next = counter.Sample(std::chrono::steady_clock::now());
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_DOUBLE_EQ(next->value(), 3.0);
}

TEST(RaplDeltaUjTest, ForwardWrappedAndBackwardsReadings) {
  StatusOr<uint64_t> forward = RaplDeltaUj(100, 350, 1000);
  ASSERT_TRUE(forward.ok());
  EXPECT_EQ(*forward, 250u);
  StatusOr<uint64_t> wrapped = RaplDeltaUj(900, 50, 1000);
  ASSERT_TRUE(wrapped.ok());
  EXPECT_EQ(*wrapped, 150u);
  EXPECT_EQ(RaplDeltaUj(900, 50, 0).status().code(), StatusCode::kDataLoss);
  // A previous reading above the range contradicts it; no made-up wrap.
  EXPECT_EQ(RaplDeltaUj(1500, 50, 1000).status().code(), StatusCode::kDataLoss);
}

TEST(ShortestWrapPeriodTest, UsesTheSelectedDomainThatWrapsFirst) {
  FakePowercapTree tree;
  AddSocket(tree, 0);  // package 262143328850 uJ, dram 65712999613 uJ
  // core is not counted, so its tiny range must not shorten the period.
  std::filesystem::path core_range = tree.ZoneDir("intel-rapl:0:0") + "/max_energy_range_uj";
  tree.AddZone("intel-rapl:1", "psys", 0, 1000);  // not added beside a package either
  { std::ofstream(core_range) << "1000\n"; }
  RaplSetup setup = DiscoverRapl(tree.root());
  std::optional<Seconds> period = ShortestWrapPeriod(setup, Watts(170));
  ASSERT_TRUE(period.has_value());
  EXPECT_NEAR(period->count(), 65712.999613 / 170.0, 1e-6);
}

TEST(ShortestWrapPeriodTest, NoneWithoutAKnownRangeOrAPositivePower) {
  FakePowercapTree tree;
  tree.AddZone("intel-rapl:0", "package-0", 0, std::nullopt);
  RaplSetup unknown_range = DiscoverRapl(tree.root());
  ASSERT_EQ(unknown_range.counters.size(), 1u);
  EXPECT_FALSE(ShortestWrapPeriod(unknown_range, Watts(100)).has_value());

  FakePowercapTree known;
  known.AddZone("intel-rapl:0", "package-0", 0);
  RaplSetup setup = DiscoverRapl(known.root());
  EXPECT_TRUE(ShortestWrapPeriod(setup, Watts(100)).has_value());
  EXPECT_FALSE(ShortestWrapPeriod(setup, Watts(0)).has_value());
}

}  // namespace
}  // namespace sobre::footprint
