// Carbon intensity: the yearly table compiled from data/carbon_intensity.csv, and hourly series
// read from CSV or JSON files and averaged over a run.
#include "footprint/intensity.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/csv.h"
#include "core/file.h"
#include "core/strings.h"
#include "footprint/builtin_data.h"

namespace sobre::footprint {
namespace {

using std::chrono::system_clock;

constexpr size_t kClosestCount = 3;
// Above any grid on record (lifecycle coal is about 1,000 g/kWh); a bigger value is a unit error.
constexpr double kMaxGramsPerKwh = 5000;
constexpr int kMinYear = 1990;
constexpr int kMaxYear = 2100;
constexpr size_t kMaxZoneLength = 64;
// A point stands for at most this long: the series are hourly or finer.
constexpr auto kMaxPointPeriod = std::chrono::hours(1);

std::string Where(std::string_view source, int line) {
  return std::string(source) + ":" + std::to_string(line);
}

std::string FormatNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string ToUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}


// The value column's other accepted spelling.
std::string CanonicalSeriesColumn(std::string name) {
  return name == "carbon_intensity" ? "gco2e_per_kwh" : name;
}

// Maps header names to column positions. Every name in `columns` must appear exactly once;
// `canonical`, when given, maps accepted alternative spellings to those names.
StatusOr<std::vector<size_t>> MapHeader(const std::vector<std::string>& header,
                                        std::span<const std::string_view> columns,
                                        std::string (*canonical)(std::string)) {
  std::vector<std::optional<size_t>> pos(columns.size());
  for (size_t i = 0; i < header.size(); ++i) {
    std::string name = ToLower(Trim(header[i]));
    if (canonical != nullptr) name = canonical(std::move(name));
    auto col = std::find(columns.begin(), columns.end(), name);
    if (col == columns.end()) {
      std::vector<std::string> expected(columns.begin(), columns.end());
      return InvalidArgumentError("unknown column '" + header[i] + "' (expected " +
                                  Join(expected, ", ") + ")");
    }
    size_t c = static_cast<size_t>(col - columns.begin());
    if (pos[c]) return InvalidArgumentError("column '" + std::string(*col) + "' appears twice");
    pos[c] = i;
  }
  std::vector<size_t> out;
  for (size_t c = 0; c < columns.size(); ++c) {
    if (!pos[c]) return InvalidArgumentError("missing column '" + std::string(columns[c]) + "'");
    out.push_back(*pos[c]);
  }
  return out;
}

Status CheckIntensity(double v) {
  if (!std::isfinite(v)) return InvalidArgumentError("intensity is not a finite number");
  if (v < 0) return InvalidArgumentError("negative intensity " + FormatNumber(v));
  if (v > kMaxGramsPerKwh) {
    return InvalidArgumentError("intensity " + FormatNumber(v) + " g/kWh is above " +
                                FormatNumber(kMaxGramsPerKwh) + " (wrong unit?)");
  }
  return OkStatus();
}

StatusOr<double> ParseIntensity(std::string_view text) {
  SOBRE_ASSIGN_OR_RETURN(double v, ParseDouble(text));
  SOBRE_RETURN_IF_ERROR(CheckIntensity(v));
  return v;
}

Status CheckZoneCode(std::string_view zone) {
  if (zone.empty()) return InvalidArgumentError("empty zone");
  if (zone.size() > kMaxZoneLength) return InvalidArgumentError("zone code too long");
  for (char c : zone) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return InvalidArgumentError("zone '" + std::string(zone) +
                                  "' may hold only letters, digits, '-' and '_'");
    }
  }
  return OkStatus();
}

// Reads exactly `n` digits at `s[*i]`.
bool ReadDigits(std::string_view s, size_t* i, size_t n, int* out) {
  if (*i + n > s.size()) return false;
  int v = 0;
  for (size_t k = 0; k < n; ++k) {
    char c = s[*i + k];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *i += n;
  *out = v;
  return true;
}

// Parses "2026-11-21T05:00:00Z", with optional seconds and fraction, 'T' or ' ' between date and
// time, and "Z", "+00:00", "+0000" or any other explicit offset. A time without an offset is
// rejected: the series must say it is UTC.
StatusOr<system_clock::time_point> ParseUtcTime(std::string_view text) {
  std::string_view s = Trim(text);
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError("time '" + std::string(s) + "': " + std::string(why) +
                                " (expected e.g. 2026-11-21T05:00:00Z)");
  };
  size_t i = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!ReadDigits(s, &i, 4, &year) || i >= s.size() || s[i++] != '-' ||
      !ReadDigits(s, &i, 2, &month) || i >= s.size() || s[i++] != '-' ||
      !ReadDigits(s, &i, 2, &day)) {
    return bad("bad date");
  }
  if (i >= s.size() || (s[i] != 'T' && s[i] != 't' && s[i] != ' ')) return bad("no time of day");
  ++i;
  if (!ReadDigits(s, &i, 2, &hour) || i >= s.size() || s[i++] != ':' ||
      !ReadDigits(s, &i, 2, &minute)) {
    return bad("bad time of day");
  }
  std::chrono::nanoseconds fraction{0};
  if (i < s.size() && s[i] == ':') {
    ++i;
    if (!ReadDigits(s, &i, 2, &second)) return bad("bad seconds");
    if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
      ++i;
      size_t digits = 0;
      int64_t ns = 0;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        if (digits < 9) ns = ns * 10 + (s[i] - '0');
        ++digits;
        ++i;
      }
      if (digits == 0) return bad("bad fraction of a second");
      for (size_t k = digits; k < 9; ++k) ns *= 10;
      fraction = std::chrono::nanoseconds(ns);
    }
  }
  std::chrono::minutes offset{0};
  if (i >= s.size()) return bad("no UTC offset ('Z' or '+00:00')");
  if (s[i] == 'Z' || s[i] == 'z') {
    ++i;
  } else if (s[i] == '+' || s[i] == '-') {
    int sign = s[i] == '-' ? -1 : 1;
    ++i;
    int oh = 0, om = 0;
    if (!ReadDigits(s, &i, 2, &oh)) return bad("bad UTC offset");
    if (i < s.size() && s[i] == ':') ++i;
    if (!ReadDigits(s, &i, 2, &om)) return bad("bad UTC offset");
    if (oh > 23 || om > 59) return bad("bad UTC offset");
    offset = std::chrono::minutes(sign * (oh * 60 + om));
  } else {
    return bad("bad UTC offset");
  }
  if (i != s.size()) return bad("trailing text");
  if (year < 1970 || hour > 23 || minute > 59 || second > 59) return bad("out of range");
  std::chrono::year_month_day ymd{std::chrono::year(year), std::chrono::month(month),
                                  std::chrono::day(day)};
  if (!ymd.ok()) return bad("no such date");
  return system_clock::time_point(std::chrono::sys_days(ymd)) + std::chrono::hours(hour) +
         std::chrono::minutes(minute) + std::chrono::seconds(second) +
         std::chrono::duration_cast<system_clock::duration>(fraction) - offset;
}

// Formats a time as "2026-11-21T05:00:00Z" (whole seconds) for messages.
std::string FormatUtcTime(system_clock::time_point t) {
  auto day = std::chrono::floor<std::chrono::days>(t);
  std::chrono::year_month_day ymd{day};
  auto secs = std::chrono::floor<std::chrono::seconds>(t - day).count();
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lldZ", int(ymd.year()),
                unsigned(ymd.month()), unsigned(ymd.day()), static_cast<long long>(secs / 3600),
                static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
  return buf;
}

// Text of an Intensity's source: the row's attribution plus its data year.
std::string SourceWithYear(const IntensityTable::Row& row) {
  return row.source + "; data year " + std::to_string(row.year);
}

}  // namespace

const IntensityTable& IntensityTable::Builtin() {
  static const IntensityTable* const table = [] {
    StatusOr<IntensityTable> t = Parse(kData_carbon_intensity, "data/carbon_intensity.csv");
    if (!t.ok()) {
      // The shipped file is compiled in and tested; a failure here is a build defect.
      std::fprintf(stderr, "sobre: corrupt builtin intensity table: %s\n",
                   t.status().ToString().c_str());
      std::abort();
    }
    return new IntensityTable(std::move(t).value());
  }();
  return *table;
}

StatusOr<IntensityTable> IntensityTable::Parse(std::string_view csv_text, std::string source_name) {
  if (StartsWith(csv_text, "\xEF\xBB\xBF")) csv_text.remove_prefix(3);
  SOBRE_ASSIGN_OR_RETURN(std::vector<CsvLine> lines, ReadCsvLines(csv_text, source_name));
  if (lines.empty()) return InvalidArgumentError(source_name + ": no header line");
  static constexpr std::string_view kColumns[] = {"zone",      "alias", "name",
                                                  "g_per_kwh", "year",  "source"};
  StatusOr<std::vector<size_t>> cols = MapHeader(lines[0].fields, kColumns, nullptr);
  if (!cols.ok()) return cols.status().WithContext(Where(source_name, lines[0].line));

  IntensityTable table;
  std::map<std::string, int> code_line;  // Upper-case zone or alias -> line.
  for (size_t i = 1; i < lines.size(); ++i) {
    const CsvLine& l = lines[i];
    auto fail = [&](const Status& s) { return s.WithContext(Where(source_name, l.line)); };
    if (l.fields.size() != std::size(kColumns)) {
      return fail(InvalidArgumentError("expected " + std::to_string(std::size(kColumns)) +
                                       " fields, got " + std::to_string(l.fields.size())));
    }
    auto field = [&](size_t c) { return std::string(Trim(l.fields[(*cols)[c]])); };
    Row row;
    row.zone = ToUpper(field(0));
    row.alias = ToUpper(field(1));
    row.name = field(2);
    Status s = CheckZoneCode(row.zone);
    if (s.ok() && !row.alias.empty()) s = CheckZoneCode(row.alias);
    if (!s.ok()) return fail(s.WithContext("column zone/alias"));
    StatusOr<double> g = ParseIntensity(field(3));
    if (!g.ok()) return fail(g.status().WithContext("column g_per_kwh"));
    row.g_per_kwh = *g;
    StatusOr<int64_t> year = ParseInt64(field(4));
    if (!year.ok()) return fail(year.status().WithContext("column year"));
    if (*year < kMinYear || *year > kMaxYear) {
      return fail(InvalidArgumentError("column year: " + std::to_string(*year) +
                                       " is out of range [" + std::to_string(kMinYear) + ", " +
                                       std::to_string(kMaxYear) + "]"));
    }
    row.year = static_cast<int>(*year);
    row.source = field(5);
    if (row.source.empty()) return fail(InvalidArgumentError("column source is empty"));
    std::vector<std::string> codes{row.zone};
    if (!row.alias.empty() && row.alias != row.zone) codes.push_back(row.alias);
    for (const std::string& code : codes) {
      auto [it, inserted] = code_line.emplace(code, l.line);
      if (!inserted) {
        return fail(InvalidArgumentError("zone code '" + code + "' already used on line " +
                                         std::to_string(it->second)));
      }
    }
    table.rows_.push_back(std::move(row));
  }
  if (table.rows_.empty()) return InvalidArgumentError(source_name + ": no rows");
  return table;
}

StatusOr<Intensity> IntensityTable::Lookup(std::string_view zone) const {
  std::string code = ToUpper(Trim(zone));
  if (code.empty()) return InvalidArgumentError("empty carbon-intensity zone");
  for (const Row& row : rows_) {
    if (row.zone == code || (!row.alias.empty() && row.alias == code)) {
      return Intensity{row.g_per_kwh, row.zone, SourceWithYear(row), false};
    }
  }
  // Suggest by code and by name ("Frnace" finds France), reporting each zone once.
  std::vector<std::string> candidates;
  std::vector<const Row*> owner;
  for (const Row& row : rows_) {
    for (const std::string* c : {&row.zone, &row.alias, &row.name}) {
      if (c->empty()) continue;
      candidates.push_back(*c);
      owner.push_back(&row);
    }
  }
  std::vector<std::string> closest;
  for (const std::string& r : ClosestNames(code, candidates, candidates.size())) {
    auto it = std::find(candidates.begin(), candidates.end(), r);
    const Row* row = owner[static_cast<size_t>(it - candidates.begin())];
    std::string label = row->zone + " (" + row->name + ")";
    if (std::find(closest.begin(), closest.end(), label) == closest.end()) closest.push_back(label);
    if (closest.size() == kClosestCount) break;
  }
  return NotFoundError("unknown carbon-intensity zone '" + std::string(Trim(zone)) +
                       "'; closest zones: " + Join(closest, ", "));
}

StatusOr<Intensity> ResolveIntensity(std::optional<double> given_g_per_kwh,
                                     std::string_view given_source, std::string_view zone,
                                     const IntensityTable& table) {
  if (given_g_per_kwh) {
    Intensity out;
    out.g_per_kwh = *given_g_per_kwh;
    out.zone = zone.empty() ? "custom" : std::string(zone);
    out.source = std::string(given_source);
    return out;
  }
  if (!zone.empty()) return table.Lookup(zone);
  return table.World();
}

Intensity IntensityTable::World() const {
  for (const Row& row : rows_) {
    if (row.zone == "WORLD") return Intensity{row.g_per_kwh, row.zone, SourceWithYear(row), true};
  }
  // A table parsed from a user file may lack a WORLD row; the shipped one has it (tested).
  if (this != &Builtin()) return Builtin().World();
  std::fprintf(stderr, "sobre: builtin intensity table has no WORLD row\n");
  std::abort();
}

namespace {

using Point = IntensitySeries::Point;

// One point read from a file, with where it came from for duplicate errors.
struct ParsedPoint {
  Point point;
  std::string where;
};

constexpr std::string_view kSeriesColumns[] = {"time", "zone", "gco2e_per_kwh"};

StatusOr<std::vector<ParsedPoint>> ParseSeriesCsv(std::string_view text,
                                                  const std::string& source) {
  SOBRE_ASSIGN_OR_RETURN(std::vector<CsvLine> lines, ReadCsvLines(text, source));
  if (lines.empty()) return InvalidArgumentError(source + ": no header line");
  StatusOr<std::vector<size_t>> cols =
      MapHeader(lines[0].fields, kSeriesColumns, CanonicalSeriesColumn);
  if (!cols.ok()) return cols.status().WithContext(Where(source, lines[0].line));
  const size_t width = lines[0].fields.size();
  std::vector<ParsedPoint> points;
  points.reserve(lines.size() - 1);
  for (size_t i = 1; i < lines.size(); ++i) {
    const CsvLine& l = lines[i];
    std::string where = Where(source, l.line);
    if (l.fields.size() != width) {
      return InvalidArgumentError(where + ": expected " + std::to_string(width) + " fields, got " +
                                  std::to_string(l.fields.size()));
    }
    ParsedPoint p;
    p.where = where;
    StatusOr<system_clock::time_point> t = ParseUtcTime(l.fields[(*cols)[0]]);
    if (!t.ok()) return t.status().WithContext(where + ": column time");
    p.point.time = *t;
    p.point.zone = ToUpper(Trim(l.fields[(*cols)[1]]));
    Status z = CheckZoneCode(p.point.zone);
    if (!z.ok()) return z.WithContext(where + ": column zone");
    StatusOr<double> g = ParseIntensity(l.fields[(*cols)[2]]);
    if (!g.ok()) return g.status().WithContext(where + ": column gco2e_per_kwh");
    p.point.g_per_kwh = *g;
    points.push_back(std::move(p));
  }
  return points;
}

StatusOr<std::vector<ParsedPoint>> ParseSeriesJson(std::string_view text,
                                                   const std::string& source) {
  // Boost.JSON's default limits (nesting depth 32) hold hostile input; errors report the byte.
  boost::system::error_code ec;
  boost::json::stream_parser parser;
  size_t consumed = parser.write(text.data(), text.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    return InvalidArgumentError(source + ": invalid JSON at byte " + std::to_string(consumed) +
                                ": " + ec.message());
  }
  boost::json::value root = parser.release();
  const boost::json::array* items = root.if_array();
  std::string prefix;
  if (items == nullptr) {
    const boost::json::object* obj = root.if_object();
    if (obj != nullptr) {
      for (const auto& [key, value] : *obj) {
        if (key != "data") {
          return InvalidArgumentError(source + ": unknown key '" + std::string(key) +
                                      "' (expected an array, or an object with \"data\")");
        }
      }
      if (const boost::json::value* data = obj->if_contains("data")) items = data->if_array();
      prefix = "data";
    }
    if (items == nullptr) {
      return InvalidArgumentError(source +
                                  ": expected an array of points or an object {\"data\": [...]}");
    }
  }
  std::vector<ParsedPoint> points;
  points.reserve(items->size());
  for (size_t i = 0; i < items->size(); ++i) {
    std::string where = source + ": " + prefix + "[" + std::to_string(i) + "]";
    const boost::json::object* obj = (*items)[i].if_object();
    if (obj == nullptr) return InvalidArgumentError(where + ": expected an object");
    const boost::json::string* time = nullptr;
    const boost::json::string* zone = nullptr;
    const boost::json::value* value = nullptr;
    for (const auto& [key, v] : *obj) {
      std::string k = CanonicalSeriesColumn(std::string(key));
      if (k == "time") {
        time = v.if_string();
        if (time == nullptr) return InvalidArgumentError(where + ".time: expected a string");
      } else if (k == "zone") {
        zone = v.if_string();
        if (zone == nullptr) return InvalidArgumentError(where + ".zone: expected a string");
      } else if (k == "gco2e_per_kwh") {
        value = &v;
      } else {
        return InvalidArgumentError(where + ": unknown key '" + std::string(key) +
                                    "' (expected time, zone, gco2e_per_kwh)");
      }
    }
    if (time == nullptr) return InvalidArgumentError(where + ": missing \"time\"");
    if (zone == nullptr) return InvalidArgumentError(where + ": missing \"zone\"");
    if (value == nullptr) return InvalidArgumentError(where + ": missing \"gco2e_per_kwh\"");
    ParsedPoint p;
    p.where = where;
    StatusOr<system_clock::time_point> t = ParseUtcTime(std::string_view(*time));
    if (!t.ok()) return t.status().WithContext(where + ".time");
    p.point.time = *t;
    p.point.zone = ToUpper(Trim(std::string_view(*zone)));
    Status z = CheckZoneCode(p.point.zone);
    if (!z.ok()) return z.WithContext(where + ".zone");
    double g = 0;
    if (const double* d = value->if_double()) {
      g = *d;
    } else if (const int64_t* n = value->if_int64()) {
      g = static_cast<double>(*n);
    } else if (const uint64_t* u = value->if_uint64()) {
      g = static_cast<double>(*u);
    } else {
      return InvalidArgumentError(where + ".gco2e_per_kwh: expected a number");
    }
    Status valid = CheckIntensity(g);
    if (!valid.ok()) return valid.WithContext(where + ".gco2e_per_kwh");
    p.point.g_per_kwh = g;
    points.push_back(std::move(p));
  }
  return points;
}

}  // namespace

StatusOr<IntensitySeries> IntensitySeries::LoadFile(const std::string& path) {
  SOBRE_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return Parse(text, path);
}

StatusOr<IntensitySeries> IntensitySeries::Parse(std::string_view text, std::string source_name) {
  if (StartsWith(text, "\xEF\xBB\xBF")) text.remove_prefix(3);
  std::string_view body = Trim(text);
  StatusOr<std::vector<ParsedPoint>> parsed =
      !body.empty() && (body.front() == '[' || body.front() == '{')
          ? ParseSeriesJson(body, source_name)
          : ParseSeriesCsv(text, source_name);
  if (!parsed.ok()) return parsed.status();
  std::vector<ParsedPoint>& points = *parsed;
  if (points.empty()) return InvalidArgumentError(source_name + ": no data points");
  std::stable_sort(points.begin(), points.end(), [](const ParsedPoint& a, const ParsedPoint& b) {
    if (a.point.zone != b.point.zone) return a.point.zone < b.point.zone;
    return a.point.time < b.point.time;
  });
  for (size_t i = 1; i < points.size(); ++i) {
    const Point& a = points[i - 1].point;
    const Point& b = points[i].point;
    if (a.zone == b.zone && a.time == b.time) {
      return InvalidArgumentError(points[i].where + ": zone " + b.zone +
                                  " already has a value at " + FormatUtcTime(b.time) + " (" +
                                  points[i - 1].where + ")");
    }
  }
  IntensitySeries series;
  series.source_ = std::move(source_name);
  series.points_.reserve(points.size());
  for (ParsedPoint& p : points) series.points_.push_back(std::move(p.point));
  return series;
}

StatusOr<Intensity> IntensitySeries::Average(std::string_view zone, system_clock::time_point start,
                                             system_clock::time_point end) const {
  if (end < start) {
    return InvalidArgumentError("interval ends (" + FormatUtcTime(end) + ") before it starts (" +
                                FormatUtcTime(start) + ")");
  }
  std::vector<std::string> zones;
  for (const Point& p : points_) {
    if (zones.empty() || zones.back() != p.zone) zones.push_back(p.zone);
  }
  std::string code = ToUpper(Trim(zone));
  if (code.empty()) {
    if (zones.size() != 1) {
      return InvalidArgumentError(source_ + " holds several zones (" + Join(zones, ", ") +
                                  "); name the one to use");
    }
    code = zones[0];
  } else if (std::find(zones.begin(), zones.end(), code) == zones.end()) {
    return NotFoundError("zone '" + std::string(Trim(zone)) + "' is not in " + source_ +
                         "; it holds: " + Join(zones, ", "));
  }
  auto first = std::lower_bound(points_.begin(), points_.end(), code,
                                [](const Point& p, const std::string& z) { return p.zone < z; });
  auto last = std::upper_bound(first, points_.end(), code,
                               [](const std::string& z, const Point& p) { return z < p.zone; });

  auto period_end = [&](auto it) {
    auto next = std::next(it);
    system_clock::time_point limit = it->time + kMaxPointPeriod;
    return next != last && next->time < limit ? next->time : limit;
  };
  auto uncovered = [&](system_clock::time_point t, std::string_view why) {
    return NotFoundError("no " + code + " intensity at " + FormatUtcTime(t) + " in " + source_ +
                         ": " + std::string(why));
  };

  // The point whose period holds `start`.
  auto it = std::upper_bound(first, last, start,
                             [](system_clock::time_point t, const Point& p) { return t < p.time; });
  if (it == first) {
    return uncovered(start, "the series starts at " + FormatUtcTime(first->time));
  }
  --it;
  if (start >= period_end(it)) {
    if (std::next(it) == last) {
      return uncovered(start, "the series ends at " + FormatUtcTime(period_end(it)));
    }
    return uncovered(start, "gap until " + FormatUtcTime(std::next(it)->time));
  }
  std::string window = FormatUtcTime(start) + " to " + FormatUtcTime(end);
  if (start == end) {
    return Intensity{it->g_per_kwh, code, source_ + ", value at " + FormatUtcTime(start), false};
  }

  // Walk the points from the one holding `start`; each contributes its overlap with [start, end).
  // Invariant: it->time <= t < period_end(it).
  using Seconds = std::chrono::duration<double>;
  double weighted = 0;
  double covered = 0;
  size_t used = 0;
  for (system_clock::time_point t = start;;) {
    system_clock::time_point stop = std::min(period_end(it), end);
    double secs = Seconds(stop - t).count();
    weighted += it->g_per_kwh * secs;
    covered += secs;
    ++used;
    t = stop;
    if (t >= end) break;
    auto next = std::next(it);
    if (next == last) return uncovered(t, "the series ends at " + FormatUtcTime(t));
    if (next->time != t) return uncovered(t, "gap until " + FormatUtcTime(next->time));
    it = next;
  }
  return Intensity{
      weighted / covered, code,
      source_ + ", time-weighted mean of " + std::to_string(used) + " points over " + window,
      false};
}

}  // namespace sobre::footprint
