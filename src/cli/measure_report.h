// What `sobre measure` prints: the live progress line, the human summary, JSON, and CodeCarbon-
// compatible CSV rows.
#ifndef SOBRE_CLI_MEASURE_REPORT_H_
#define SOBRE_CLI_MEASURE_REPORT_H_

#include <string>
#include <vector>

#include "core/status.h"
#include "core/subprocess.h"
#include "footprint/footprint.h"
#include "footprint/meter.h"

namespace sobre::cli {

struct MeasureReport {
  std::vector<std::string> command;
  ChildExit exit;
  footprint::MeterReading reading;
  footprint::Footprint footprint;
  bool whole_machine = false;   // Headline is the whole machine rather than the command's share.
  std::string project_name;
};

// The one-line live display on a terminal, rewritten in place. Not thread-safe.
class ProgressLine {
 public:
  explicit ProgressLine(bool enabled) : enabled_(enabled) {}
  void Update(const footprint::MeterSnapshot& s);
  void Clear();

 private:
  bool enabled_;
  bool shown_ = false;
};

std::string RenderMeasureSummary(const MeasureReport& r);
std::string RenderMeasureJson(const MeasureReport& r);

// The header CodeCarbon writes to emissions.csv (v2 columns), which existing dashboards read.
extern const char kCodeCarbonCsvHeader[];

// Appends one row to `path`, writing the header first if the file is new or empty. Refuses to
// append to a file whose header differs, so an unrelated file is never corrupted.
Status AppendCodeCarbonCsv(const std::string& path, const MeasureReport& r);

}  // namespace sobre::cli

#endif  // SOBRE_CLI_MEASURE_REPORT_H_
