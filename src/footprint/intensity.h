// Carbon intensity of electricity: the shipped yearly table per country and grid zone, and hourly
// series files. Every value says where it came from.
#ifndef SOBRE_FOOTPRINT_INTENSITY_H_
#define SOBRE_FOOTPRINT_INTENSITY_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sobre::footprint {

// One intensity figure and its provenance.
struct Intensity {
  double g_per_kwh = 0;     // gCO2e per kWh of electricity consumed, location-based.
  std::string zone;         // "FR", "DE", "US-CAL-CISO", or "WORLD".
  std::string source;       // e.g. "Our World in Data / Ember, 2023, lifecycle, CC-BY-4.0".
  bool is_world_fallback = false;  // True when no zone was known and the world average is used.
};

// The yearly table. Immutable; thread-safe.
class IntensityTable {
 public:
  // The table compiled from data/carbon_intensity.csv.
  static const IntensityTable& Builtin();
  // Parses CSV text with the columns of data/carbon_intensity.csv. Errors name `source_name`
  // and the line.
  static StatusOr<IntensityTable> Parse(std::string_view csv_text, std::string source_name);

  // Zone lookup, case-insensitive, accepting ISO 3166 alpha-2 and alpha-3 codes and the grid-zone
  // codes in the table. Unknown zones give NotFound listing the closest zones.
  StatusOr<Intensity> Lookup(std::string_view zone) const;
  // The world average row, flagged is_world_fallback.
  Intensity World() const;

  struct Row {
    std::string zone;         // Canonical code.
    std::string alias;        // Alternative code (ISO alpha-3), may be empty.
    std::string name;         // Country or zone name.
    double g_per_kwh = 0;
    int year = 0;
    std::string source;
  };
  const std::vector<Row>& rows() const { return rows_; }

 private:
  std::vector<Row> rows_;
};

// The one rule every command applies: a value the user gave (`given_g_per_kwh`, labelled
// `given_source` and `zone` or "custom"), else `zone` looked up in `table` (NotFound listing close
// zones), else the world average, flagged is_world_fallback.
StatusOr<Intensity> ResolveIntensity(std::optional<double> given_g_per_kwh,
                                     std::string_view given_source, std::string_view zone,
                                     const IntensityTable& table);

// An hourly (or finer) series of intensities, read from CSV (header with time, zone and
// gco2e_per_kwh columns) or JSON (an array of {"time","zone","gco2e_per_kwh"} objects, or
// {"data": [...]}) files. Times are ISO 8601 in UTC ("2026-11-21T05:00:00Z"). Immutable.
class IntensitySeries {
 public:
  static StatusOr<IntensitySeries> LoadFile(const std::string& path);
  static StatusOr<IntensitySeries> Parse(std::string_view text, std::string source_name);

  // Mean intensity over [start, end) for `zone`, each point weighted by how long the interval
  // overlaps its period (a point covers until the next point of the zone, the last one for one
  // hour). `zone` may be empty when the file holds one zone. Fails, naming the missing time, if
  // the series does not cover the interval.
  StatusOr<Intensity> Average(std::string_view zone, std::chrono::system_clock::time_point start,
                              std::chrono::system_clock::time_point end) const;

  struct Point {
    std::chrono::system_clock::time_point time;
    std::string zone;
    double g_per_kwh = 0;
  };
  const std::vector<Point>& points() const { return points_; }

 private:
  std::string source_;
  std::vector<Point> points_;  // Sorted by zone, then time.
};

}  // namespace sobre::footprint

#endif  // SOBRE_FOOTPRINT_INTENSITY_H_
