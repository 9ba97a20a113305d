// Test helpers for the model part: a runner for the independent numpy reference
// (reference_forward.py) and the NMSE measure; the models come from test_model_maker.h.
#ifndef SOBRE_TESTS_ENGINE_MODEL_MODEL_TEST_UTIL_H_
#define SOBRE_TESTS_ENGINE_MODEL_MODEL_TEST_UTIL_H_

#include <cstdio>
#include <string>
#include <vector>

#include "boost/json.hpp"
#include "core/status.h"
#include "fmt/format.h"
#include "tests/engine/model/test_model_maker.h"

namespace sobre::engine::testing {

// Output of reference_forward.py: per prompt, either logits [position][vocab] or one embedding.
struct ReferenceResult {
  std::vector<std::vector<float>> logits;
  std::vector<float> embedding;
};

// Runs the numpy reference on `model_path` for each prompt; `extra_flags` are passed through
// ("--rope-pairing swapped", "--no-normalize"). Internal error with the command's output when the
// script fails.
inline StatusOr<std::vector<ReferenceResult>> RunReference(
    const std::string& model_path, const std::vector<std::vector<int32_t>>& prompts,
    const std::string& extra_flags = "") {
  std::string cmd = fmt::format("'{}' '{}/tests/engine/model/reference_forward.py' '{}' {}",
                                SOBRE_PYTHON3, SOBRE_SOURCE_DIR, model_path, extra_flags);
  for (const auto& p : prompts) {
    std::string ids;
    for (int32_t t : p) ids += fmt::format("{} ", t);
    cmd += fmt::format(" --tokens '{}'", ids);
  }
  cmd += " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return InternalError("cannot run " + cmd);
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  const int status = ::pclose(pipe);
  if (status != 0) return InternalError(fmt::format("{} failed ({}):\n{}", cmd, status, out));
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(out, ec);
  if (ec) return InternalError("reference output is not JSON: " + out.substr(0, 400));
  std::vector<ReferenceResult> results;
  for (const boost::json::value& r : doc.at("results").as_array()) {
    ReferenceResult rr;
    const boost::json::object& o = r.as_object();
    if (const boost::json::value* l = o.if_contains("logits")) {
      for (const boost::json::value& row : l->as_array()) {
        std::vector<float> v;
        for (const boost::json::value& x : row.as_array()) v.push_back(static_cast<float>(x.to_number<double>()));
        rr.logits.push_back(std::move(v));
      }
    }
    if (const boost::json::value* em = o.if_contains("embedding")) {
      for (const boost::json::value& x : em->as_array()) {
        rr.embedding.push_back(static_cast<float>(x.to_number<double>()));
      }
    }
    results.push_back(std::move(rr));
  }
  return results;
}

// Normalised mean squared error sum((a - b)^2) / sum(b^2): b is the reference.
inline double Nmse(const float* a, const float* b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    num += d * d;
    den += static_cast<double>(b[i]) * b[i];
  }
  return den > 0 ? num / den : num;
}

}  // namespace sobre::engine::testing

#endif  // SOBRE_TESTS_ENGINE_MODEL_MODEL_TEST_UTIL_H_
