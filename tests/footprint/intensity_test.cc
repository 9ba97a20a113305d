#include "footprint/intensity.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <fstream>
#include <string>

#include "core/units.h"

namespace sobre::footprint {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::system_clock;
using ::testing::HasSubstr;

// 2026-11-21T00:00:00Z plus an offset: the day the example series below live on.
system_clock::time_point At(hours h, minutes m = minutes(0)) {
  using namespace std::chrono;
  return system_clock::time_point(sys_days(year(2026) / November / 21)) + h + m;
}

std::string WriteTempFile(const std::string& name, const std::string& text) {
  std::string dir_template = ::testing::TempDir() + "/intensity_XXXXXX";
  char* dir = mkdtemp(dir_template.data());
  EXPECT_NE(dir, nullptr);
  std::string path = std::string(dir) + "/" + name;
  std::ofstream(path) << text;
  return path;
}

const IntensityTable& Table() { return IntensityTable::Builtin(); }

TEST(IntensityTableTest, BuiltinFranceIsOwid2023) {
  StatusOr<Intensity> fr = Table().Lookup("FR");
  ASSERT_TRUE(fr.ok()) << fr.status().ToString();
  EXPECT_DOUBLE_EQ(fr->g_per_kwh, 56.0);
  EXPECT_EQ(fr->zone, "FR");
  EXPECT_FALSE(fr->is_world_fallback);
  EXPECT_THAT(fr->source, HasSubstr("Our World in Data"));
  EXPECT_THAT(fr->source, HasSubstr("2023"));
  EXPECT_THAT(fr->source, HasSubstr("CC-BY-4.0"));
}

TEST(IntensityTableTest, LookupAcceptsAlpha3AndAnyCase) {
  for (const char* code : {"FRA", "fra", " fr ", "Fr"}) {
    StatusOr<Intensity> fr = Table().Lookup(code);
    ASSERT_TRUE(fr.ok()) << code;
    EXPECT_EQ(fr->zone, "FR") << code;
    EXPECT_DOUBLE_EQ(fr->g_per_kwh, 56.0) << code;
  }
  StatusOr<Intensity> us = Table().Lookup("usa");
  ASSERT_TRUE(us.ok());
  EXPECT_EQ(us->zone, "US");
}

// CodeCarbon's offline test: 1 kWh in FRA gives 0.05604 kg with its OWID 2023 value of 56.04. Our
// table holds the same OWID 2023 figure rounded to 0.1 g, so 1 kWh gives our own 56.0 g.
TEST(IntensityTableTest, CodeCarbonFranceVectorWithOurValue) {
  StatusOr<Intensity> fr = Table().Lookup("FRA");
  ASSERT_TRUE(fr.ok());
  GramsCo2e g = CarbonOf(KilowattHours(1), fr->g_per_kwh);
  EXPECT_DOUBLE_EQ(g.value(), 56.0);
  EXPECT_NEAR(g.value(), 56.04, 0.05);  // Same dataset and year as CodeCarbon's 56.04.
}

TEST(IntensityTableTest, ReferenceValuesAndYears) {
  struct Case {
    const char* zone;
    double g;
    int year;
  };
  for (const Case& c : {Case{"DE", 381.0, 2023}, Case{"US", 369.5, 2023}, Case{"GB", 237.6, 2023},
                        Case{"SE", 40.7, 2023}, Case{"NO", 30.1, 2023}, Case{"PL", 661.9, 2023},
                        Case{"CN", 582.3, 2023}, Case{"IN", 713.4, 2023}, Case{"IE", 290.8, 2023},
                        Case{"CA", 170.0, 2023}, Case{"JP", 485.4, 2023}, Case{"AU", 548.7, 2023},
                        Case{"BR", 98.3, 2023}, Case{"CH", 34.8, 2023}, Case{"FI", 79.2, 2023},
                        Case{"NL", 267.6, 2023}, Case{"ES", 174.1, 2023}, Case{"IT", 330.7, 2023},
                        Case{"IS", 27.7, 2022}}) {
    StatusOr<Intensity> i = Table().Lookup(c.zone);
    ASSERT_TRUE(i.ok()) << c.zone;
    EXPECT_DOUBLE_EQ(i->g_per_kwh, c.g) << c.zone;
    EXPECT_THAT(i->source, HasSubstr("data year " + std::to_string(c.year))) << c.zone;
  }
  // A grid zone below country level.
  StatusOr<Intensity> se3 = Table().Lookup("se3");
  ASSERT_TRUE(se3.ok());
  EXPECT_DOUBLE_EQ(se3->g_per_kwh, 27.0);
  EXPECT_THAT(se3->source, HasSubstr("2025"));
}

TEST(IntensityTableTest, EveryRowIsSourcedAndPlausible) {
  EXPECT_GE(Table().rows().size(), 150u);
  for (const IntensityTable::Row& row : Table().rows()) {
    EXPECT_FALSE(row.source.empty()) << row.zone;
    EXPECT_FALSE(row.name.empty()) << row.zone;
    EXPECT_GT(row.g_per_kwh, 0) << row.zone;
    EXPECT_GE(row.year, 2020) << row.zone;
    StatusOr<Intensity> found = Table().Lookup(row.zone);
    ASSERT_TRUE(found.ok()) << row.zone;
    EXPECT_EQ(found->zone, row.zone);
    if (!row.alias.empty()) {
      StatusOr<Intensity> by_alias = Table().Lookup(row.alias);
      ASSERT_TRUE(by_alias.ok()) << row.alias;
      EXPECT_EQ(by_alias->zone, row.zone);
    }
  }
}

TEST(IntensityTableTest, WorldFallbackIsFlagged) {
  Intensity world = Table().World();
  EXPECT_DOUBLE_EQ(world.g_per_kwh, 481);
  EXPECT_EQ(world.zone, "WORLD");
  EXPECT_TRUE(world.is_world_fallback);
  EXPECT_THAT(world.source, HasSubstr("Ember"));
  EXPECT_THAT(world.source, HasSubstr("data year 2023"));

  // Asking for WORLD by name is not a fallback.
  StatusOr<Intensity> asked = Table().Lookup("world");
  ASSERT_TRUE(asked.ok());
  EXPECT_FALSE(asked->is_world_fallback);
}

TEST(IntensityTableTest, UnknownZoneListsNearZones) {
  StatusOr<Intensity> x = Table().Lookup("FRX");
  ASSERT_FALSE(x.ok());
  EXPECT_EQ(x.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(x.status().message(), HasSubstr("unknown carbon-intensity zone 'FRX'"));
  EXPECT_THAT(x.status().message(), HasSubstr("FR (France)"));

  StatusOr<Intensity> typo = Table().Lookup("Frnace");
  ASSERT_FALSE(typo.ok());
  EXPECT_THAT(typo.status().message(), HasSubstr("FR (France)"));

  EXPECT_EQ(Table().Lookup("").status().code(), StatusCode::kInvalidArgument);
}

TEST(IntensityTableTest, ParseRejectsMalformedTables) {
  const std::string header = "zone,alias,name,g_per_kwh,year,source\n";
  struct Case {
    std::string text;
    const char* error;
  };
  for (const Case& c : {
           Case{header + "FR,FRA,France,abc,2023,src\n", "t.csv:2: column g_per_kwh"},
           Case{header + "FR,FRA,France,-1,2023,src\n", "t.csv:2: column g_per_kwh: negative"},
           Case{header + "FR,FRA,France,56,20x3,src\n", "t.csv:2: column year"},
           Case{header + "FR,FRA,France,56,1850,src\n", "t.csv:2: column year: 1850"},
           Case{header + "FR,FRA,France,56,2023,\n", "t.csv:2: column source is empty"},
           Case{header + "FR,FRA,France,56,2023\n", "t.csv:2: expected 6 fields, got 5"},
           Case{header + "FR,FRA,France,56,2023,s\nfr,,France again,57,2023,s\n",
                "t.csv:3: zone code 'FR' already used on line 2"},
           Case{header + "F R,,France,56,2023,s\n", "t.csv:2: column zone/alias"},
           Case{"zone,alias,name,g_per_kwh,year,source,extra\n", "t.csv:1: unknown column 'extra'"},
           Case{"zone,alias,name,g_per_kwh,source\n", "t.csv:1: missing column 'year'"},
           Case{"# only a comment\n", "t.csv: no header line"},
           Case{header, "t.csv: no rows"},
       }) {
    StatusOr<IntensityTable> t = IntensityTable::Parse(c.text, "t.csv");
    ASSERT_FALSE(t.ok()) << c.text;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(t.status().message(), HasSubstr(c.error)) << t.status().message();
  }
  // Columns may come in any order; a table without WORLD falls back to the shipped world row.
  StatusOr<IntensityTable> t = IntensityTable::Parse(
      "source,year,g_per_kwh,name,alias,zone\n\"a, b\",2024,12.5,Here,,ZZ\n", "t.csv");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  StatusOr<Intensity> zz = t->Lookup("zz");
  ASSERT_TRUE(zz.ok());
  EXPECT_DOUBLE_EQ(zz->g_per_kwh, 12.5);
  EXPECT_EQ(zz->source, "a, b; data year 2024");
  EXPECT_DOUBLE_EQ(t->World().g_per_kwh, 481);
  EXPECT_TRUE(t->World().is_world_fallback);
}

// Three hourly FR points and two DE points. A run from 05:30 to 07:30 overlaps half of the 05:00
// point, all of 06:00 and half of 07:00: (0.5 * 100 + 1 * 200 + 0.5 * 400) / 2 = 225.
const char kCsvSeries[] =
    "# hourly intensities\n"
    "time,zone,gco2e_per_kwh\n"
    "2026-11-21T05:00:00Z,FR,100\n"
    "2026-11-21T06:00:00Z,FR,200\n"
    "2026-11-21T07:00:00Z,FR,400\n"
    "2026-11-21T05:00:00Z,DE,300\n"
    "2026-11-21T06:00:00Z,DE,500\n";

TEST(IntensitySeriesTest, CsvAverageWeightsPartialHours) {
  StatusOr<IntensitySeries> s = IntensitySeries::Parse(kCsvSeries, "fr.csv");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->points().size(), 5u);

  StatusOr<Intensity> fr = s->Average("FR", At(hours(5), minutes(30)), At(hours(7), minutes(30)));
  ASSERT_TRUE(fr.ok()) << fr.status().ToString();
  EXPECT_DOUBLE_EQ(fr->g_per_kwh, 225.0);
  EXPECT_EQ(fr->zone, "FR");
  EXPECT_FALSE(fr->is_world_fallback);
  EXPECT_THAT(fr->source, HasSubstr("fr.csv"));
  EXPECT_THAT(fr->source, HasSubstr("2026-11-21T05:30:00Z to 2026-11-21T07:30:00Z"));

  // 05:15 to 06:45 over DE: 0.75 h at 300 and 0.75 h at 500 = 400.
  StatusOr<Intensity> de = s->Average("de", At(hours(5), minutes(15)), At(hours(6), minutes(45)));
  ASSERT_TRUE(de.ok());
  EXPECT_DOUBLE_EQ(de->g_per_kwh, 400.0);

  // Inside one point.
  StatusOr<Intensity> inside =
      s->Average("FR", At(hours(6), minutes(10)), At(hours(6), minutes(20)));
  ASSERT_TRUE(inside.ok());
  EXPECT_DOUBLE_EQ(inside->g_per_kwh, 200.0);

  // The last point covers one hour, up to 08:00 exactly.
  StatusOr<Intensity> tail = s->Average("FR", At(hours(7)), At(hours(8)));
  ASSERT_TRUE(tail.ok());
  EXPECT_DOUBLE_EQ(tail->g_per_kwh, 400.0);
}

TEST(IntensitySeriesTest, ZeroLengthIntervalTakesThePointCoveringStart) {
  StatusOr<IntensitySeries> s = IntensitySeries::Parse(kCsvSeries, "fr.csv");
  ASSERT_TRUE(s.ok());
  StatusOr<Intensity> at = s->Average("FR", At(hours(6), minutes(59)), At(hours(6), minutes(59)));
  ASSERT_TRUE(at.ok());
  EXPECT_DOUBLE_EQ(at->g_per_kwh, 200.0);
  StatusOr<Intensity> edge = s->Average("FR", At(hours(7)), At(hours(7)));
  ASSERT_TRUE(edge.ok());
  EXPECT_DOUBLE_EQ(edge->g_per_kwh, 400.0);
  EXPECT_FALSE(s->Average("FR", At(hours(8)), At(hours(8))).ok());
}

TEST(IntensitySeriesTest, JsonAverageMatchesCsv) {
  const char kArray[] = R"([
    {"time": "2026-11-21T05:00:00Z", "zone": "FR", "gco2e_per_kwh": 100},
    {"time": "2026-11-21T06:00:00+00:00", "zone": "FR", "gco2e_per_kwh": 200.0},
    {"time": "2026-11-21T07:00Z", "zone": "FR", "carbon_intensity": 400}
  ])";
  const char kWrapped[] = R"({"data": [
    {"zone": "FR", "gco2e_per_kwh": 400, "time": "2026-11-21T07:00:00Z"},
    {"zone": "FR", "gco2e_per_kwh": 100, "time": "2026-11-21T05:00:00Z"},
    {"zone": "FR", "gco2e_per_kwh": 200, "time": "2026-11-21T06:00:00Z"}
  ]})";
  for (const char* text : {kArray, kWrapped}) {
    StatusOr<IntensitySeries> s = IntensitySeries::Parse(text, "fr.json");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    // The only zone in the file may be left unnamed.
    StatusOr<Intensity> fr = s->Average("", At(hours(5), minutes(30)), At(hours(7), minutes(30)));
    ASSERT_TRUE(fr.ok()) << fr.status().ToString();
    EXPECT_DOUBLE_EQ(fr->g_per_kwh, 225.0);
    EXPECT_EQ(fr->zone, "FR");
  }
}

TEST(IntensitySeriesTest, CsvColumnsInAnyOrderAndTimeSpellings) {
  StatusOr<IntensitySeries> s = IntensitySeries::Parse(
      "carbon_intensity,time,zone\n"
      "100,2026-11-21T05:00Z,FR\n"          // No seconds.
      "200,2026-11-21T07:00:00+01:00,FR\n"  // 06:00 UTC.
      "400,2026-11-21 07:00:00.000+0000,FR\n",
      "odd.csv");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->points().size(), 3u);
  EXPECT_EQ(s->points()[1].time, At(hours(6)));
  StatusOr<Intensity> fr = s->Average("FR", At(hours(5), minutes(30)), At(hours(7), minutes(30)));
  ASSERT_TRUE(fr.ok());
  EXPECT_DOUBLE_EQ(fr->g_per_kwh, 225.0);
}

TEST(IntensitySeriesTest, SubHourlyPointsCoverUntilTheNextOne) {
  StatusOr<IntensitySeries> s = IntensitySeries::Parse(
      "time,zone,gco2e_per_kwh\n"
      "2026-11-21T05:00:00Z,GB,100\n"
      "2026-11-21T05:15:00Z,GB,200\n"
      "2026-11-21T05:30:00Z,GB,300\n"
      "2026-11-21T05:45:00Z,GB,400\n",
      "gb.csv");
  ASSERT_TRUE(s.ok());
  // 05:10-06:10: 5 min at 100, 15 at 200, 15 at 300, and the last point's full hour from 05:45.
  StatusOr<Intensity> gb = s->Average("GB", At(hours(5), minutes(10)), At(hours(6), minutes(10)));
  ASSERT_TRUE(gb.ok());
  EXPECT_DOUBLE_EQ(gb->g_per_kwh, (5 * 100 + 15 * 200 + 15 * 300 + 25 * 400) / 60.0);
}

TEST(IntensitySeriesTest, GapsAndOutOfRangeIntervalsNameTheUncoveredTime) {
  StatusOr<IntensitySeries> s = IntensitySeries::Parse(
      "time,zone,gco2e_per_kwh\n"
      "2026-11-21T05:00:00Z,FR,100\n"
      "2026-11-21T06:00:00Z,FR,200\n"
      "2026-11-21T08:00:00Z,FR,300\n",
      "gap.csv");
  ASSERT_TRUE(s.ok());
  StatusOr<Intensity> gap = s->Average("FR", At(hours(5), minutes(30)), At(hours(8), minutes(30)));
  ASSERT_FALSE(gap.ok());
  EXPECT_EQ(gap.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(gap.status().message(), HasSubstr("no FR intensity at 2026-11-21T07:00:00Z"));
  EXPECT_THAT(gap.status().message(), HasSubstr("gap until 2026-11-21T08:00:00Z"));

  StatusOr<Intensity> in_gap =
      s->Average("FR", At(hours(7), minutes(15)), At(hours(7), minutes(20)));
  ASSERT_FALSE(in_gap.ok());
  EXPECT_THAT(in_gap.status().message(), HasSubstr("2026-11-21T07:15:00Z"));

  StatusOr<Intensity> before = s->Average("FR", At(hours(4)), At(hours(6)));
  ASSERT_FALSE(before.ok());
  EXPECT_THAT(before.status().message(), HasSubstr("at 2026-11-21T04:00:00Z"));
  EXPECT_THAT(before.status().message(), HasSubstr("starts at 2026-11-21T05:00:00Z"));

  StatusOr<Intensity> after =
      s->Average("FR", At(hours(8), minutes(30)), At(hours(9), minutes(30)));
  ASSERT_FALSE(after.ok());
  EXPECT_THAT(after.status().message(), HasSubstr("at 2026-11-21T09:00:00Z"));

  StatusOr<Intensity> beyond = s->Average("FR", At(hours(10)), At(hours(11)));
  ASSERT_FALSE(beyond.ok());
  EXPECT_THAT(beyond.status().message(), HasSubstr("at 2026-11-21T10:00:00Z"));

  EXPECT_EQ(s->Average("FR", At(hours(6)), At(hours(5))).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(IntensitySeriesTest, ZoneMustBeNamedWhenTheFileHasSeveral) {
  StatusOr<IntensitySeries> s = IntensitySeries::Parse(kCsvSeries, "two.csv");
  ASSERT_TRUE(s.ok());
  StatusOr<Intensity> none = s->Average("", At(hours(5)), At(hours(6)));
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("two.csv holds several zones (DE, FR)"));
  StatusOr<Intensity> other = s->Average("PL", At(hours(5)), At(hours(6)));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(other.status().message(), HasSubstr("it holds: DE, FR"));
}

TEST(IntensitySeriesTest, MalformedFilesGiveErrorsNamingFileAndLineOrIndex) {
  struct Case {
    std::string text;
    const char* error;
  };
  const std::string header = "time,zone,gco2e_per_kwh\n";
  for (const Case& c : {
           Case{header + "2026-11-21T05:00:00Z,FR,abc\n", "s:2: column gco2e_per_kwh"},
           Case{header + "2026-11-21T05:00:00Z,FR,-3\n", "s:2: column gco2e_per_kwh: negative"},
           Case{header + "2026-11-21T05:00:00Z,FR,1e300\n", "s:2: column gco2e_per_kwh: intensity"},
           Case{header + "2026-11-21T05:00:00Z,FR,nan\n", "s:2: column gco2e_per_kwh"},
           Case{header + "2026-11-21T05:00:00,FR,100\n",
                "s:2: column time: time '2026-11-21T05:00:00'"},
           Case{header + "2026-02-30T05:00:00Z,FR,100\n", "no such date"},
           Case{header + "2026-11-21T25:00:00Z,FR,100\n", "s:2: column time"},
           Case{header + "2026-11-21T05:00:00Z,,100\n", "s:2: column zone"},
           Case{header + "2026-11-21T05:00:00Z,FR\n", "s:2: expected 3 fields, got 2"},
           Case{header + "2026-11-21T05:00:00Z,FR,1\n2026-11-21T05:00:00Z,fr,2\n",
                "s:3: zone FR already has a value at 2026-11-21T05:00:00Z (s:2)"},
           Case{"time,zone,gco2e_per_kwh,comment\n", "s:1: unknown column 'comment'"},
           Case{"time,gco2e_per_kwh\n", "s:1: missing column 'zone'"},
           Case{"time,zone,gco2e_per_kwh,carbon_intensity\n", "appears twice"},
           Case{header, "s: no data points"},
           Case{"", "s: no header line"},
           Case{R"([{"time": "2026-11-21T05:00:00Z", "zone": "FR", "gco2e_per_kwh": 1)",
                "s: invalid JSON"},
           Case{R"([{"time": "2026-11-21T05:00:00Z", "zone": "FR", "gco2e_per_kwh": "1"}])",
                "s: [0].gco2e_per_kwh: expected a number"},
           Case{R"([{"time": "2026-11-21T05:00:00Z", "zone": "FR", "gco2e_per_kwh": 1},
                   {"time": "2026-11-21T06:00:00Z", "zone": "FR", "gco2e_per_kwh": -1}])",
                "s: [1].gco2e_per_kwh: negative"},
           Case{R"({"data": [{"time": 5, "zone": "FR", "gco2e_per_kwh": 1}]})",
                "s: data[0].time: expected a string"},
           Case{R"([{"time": "2026-11-21T05:00:00Z", "zone": "FR"}])",
                "s: [0]: missing \"gco2e_per_kwh\""},
           Case{R"([{"time": "2026-11-21T05:00:00Z", "zone": "FR", "gco2e_per_kwh": 1, "x": 2}])",
                "s: [0]: unknown key 'x'"},
           Case{R"({"points": []})", "s: unknown key 'points'"},
           Case{R"([1, 2])", "s: [0]: expected an object"},
           Case{R"([])", "s: no data points"},
       }) {
    StatusOr<IntensitySeries> s = IntensitySeries::Parse(c.text, "s");
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(s.status().message(), HasSubstr(c.error)) << s.status().message();
  }
}

TEST(IntensitySeriesTest, HostileInputIsRejectedNotTrusted) {
  // Deep nesting and a huge number of fields fail cleanly.
  std::string deep(100000, '[');
  EXPECT_FALSE(IntensitySeries::Parse(deep, "deep.json").ok());
  std::string wide = "time,zone,gco2e_per_kwh\n" + std::string(10000, ',') + "\n";
  StatusOr<IntensitySeries> s = IntensitySeries::Parse(wide, "wide.csv");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("wide.csv:2"));
}

TEST(IntensitySeriesTest, LoadFileReadsCsvAndJsonAndNamesMissingFiles) {
  std::string path = WriteTempFile("series.csv", kCsvSeries);
  StatusOr<IntensitySeries> s = IntensitySeries::LoadFile(path);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  StatusOr<Intensity> fr = s->Average("FR", At(hours(5), minutes(30)), At(hours(7), minutes(30)));
  ASSERT_TRUE(fr.ok());
  EXPECT_DOUBLE_EQ(fr->g_per_kwh, 225.0);
  EXPECT_THAT(fr->source, HasSubstr(path));

  std::string bad = WriteTempFile("bad.csv", "time,zone,gco2e_per_kwh\nnot-a-time,FR,1\n");
  StatusOr<IntensitySeries> b = IntensitySeries::LoadFile(bad);
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.status().message(), HasSubstr(bad + ":2"));

  StatusOr<IntensitySeries> missing =
      IntensitySeries::LoadFile(::testing::TempDir() + "/no/such/series.csv");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("no/such/series.csv"));
}

TEST(ResolveIntensityTest, GivenValueThenZoneThenFlaggedWorldAverage) {
  const IntensityTable& t = IntensityTable::Builtin();
  auto given = ResolveIntensity(123.0, "given with --intensity", "", t);
  ASSERT_TRUE(given.ok());
  EXPECT_DOUBLE_EQ(given->g_per_kwh, 123.0);
  EXPECT_EQ(given->zone, "custom");
  EXPECT_EQ(given->source, "given with --intensity");
  EXPECT_FALSE(given->is_world_fallback);
  auto zone = ResolveIntensity(std::nullopt, "", "FR", t);
  ASSERT_TRUE(zone.ok());
  EXPECT_DOUBLE_EQ(zone->g_per_kwh, 56.0);
  auto world = ResolveIntensity(std::nullopt, "", "", t);
  ASSERT_TRUE(world.ok());
  EXPECT_TRUE(world->is_world_fallback);
  EXPECT_FALSE(ResolveIntensity(std::nullopt, "", "Atlantis", t).ok());
}

}  // namespace
}  // namespace sobre::footprint
