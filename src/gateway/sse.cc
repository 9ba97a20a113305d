// SSE framing.
#include "gateway/sse.h"

#include <boost/json/serialize.hpp>

namespace sobre::gateway {

std::string SseData(const boost::json::object& payload) {
  std::string out = "data: ";
  out += boost::json::serialize(payload);
  out += "\n\n";
  return out;
}

std::string SseError(const ApiError& error) {
  std::string out = "data: ";
  out += ApiErrorBody(error);
  out += "\n\n";
  return out;
}

}  // namespace sobre::gateway
