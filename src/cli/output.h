// Output helpers shared by the commands: error lines, pretty JSON, number formatting.
#ifndef SOBRE_CLI_OUTPUT_H_
#define SOBRE_CLI_OUTPUT_H_

#include <string>

#include <boost/json/value.hpp>

namespace sobre::cli {

// Indented JSON with a trailing newline.
std::string PrettyJson(const boost::json::value& v);

// A figure with enough significant digits to be useful at any scale: 0.000123, 1.23, 1234.
std::string FormatFigure(double v);

// RFC 3339 UTC time, "2026-11-21T05:23:00Z".
std::string FormatUtc(std::chrono::system_clock::time_point t);

}  // namespace sobre::cli

#endif  // SOBRE_CLI_OUTPUT_H_
