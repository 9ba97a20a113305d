#include "cli/output.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include <boost/json.hpp>
#include <fmt/core.h>

#include "cli/command.h"

namespace sobre::cli {
namespace {

void Pretty(const boost::json::value& v, std::string& out, int indent) {
  std::string pad(static_cast<size_t>(indent + 2), ' ');
  switch (v.kind()) {
    case boost::json::kind::object: {
      const auto& o = v.get_object();
      if (o.empty()) {
        out += "{}";
        return;
      }
      out += "{\n";
      bool first = true;
      for (const auto& kv : o) {
        if (!first) out += ",\n";
        first = false;
        out += pad + boost::json::serialize(boost::json::string(kv.key())) + ": ";
        Pretty(kv.value(), out, indent + 2);
      }
      out += "\n" + std::string(static_cast<size_t>(indent), ' ') + "}";
      return;
    }
    case boost::json::kind::array: {
      const auto& a = v.get_array();
      if (a.empty()) {
        out += "[]";
        return;
      }
      out += "[\n";
      for (size_t i = 0; i < a.size(); ++i) {
        if (i > 0) out += ",\n";
        out += pad;
        Pretty(a[i], out, indent + 2);
      }
      out += "\n" + std::string(static_cast<size_t>(indent), ' ') + "]";
      return;
    }
    case boost::json::kind::double_:
      // Shortest form that reads back exactly ("1.5", "0.000312"), not Boost's "1.5E0".
      out += fmt::format("{}", v.get_double());
      return;
    default:
      out += boost::json::serialize(v);
  }
}

}  // namespace

std::string PrettyJson(const boost::json::value& v) {
  std::string out;
  Pretty(v, out, 0);
  out += "\n";
  return out;
}

std::string FormatFigure(double v) {
  if (v == 0) return "0";
  double a = std::fabs(v);
  if (a >= 1000) return fmt::format("{:.0f}", v);
  if (a >= 1) return fmt::format("{:.3g}", v);
  return fmt::format("{:.3g}", v);
}

std::string FormatUtc(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int ReportError(std::string_view command, const Status& status) {
  std::fprintf(stderr, "sobre %.*s: error: %s\n", static_cast<int>(command.size()), command.data(),
               status.message().c_str());
  bool usage = status.code() == StatusCode::kInvalidArgument ||
               status.code() == StatusCode::kNotFound;
  return usage ? kExitUsage : kExitFailure;
}

}  // namespace sobre::cli
