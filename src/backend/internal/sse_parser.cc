#include "backend/internal/sse_parser.h"

namespace sobre::backend::internal {

Status SseParser::Feed(std::string_view bytes, std::vector<SseEvent>* out) {
  if (at_start_ && !bytes.empty()) {
    // The BOM may itself be split; only strip it when it arrives whole in the first bytes.
    constexpr std::string_view kBom = "\xEF\xBB\xBF";
    if (bytes.substr(0, kBom.size()) == kBom) bytes.remove_prefix(kBom.size());
    at_start_ = false;
  }
  size_t start = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    char c = bytes[i];
    if (c != '\n' && c != '\r') {
      skip_lf_ = false;
      continue;
    }
    if (c == '\n' && skip_lf_ && i == start && line_.empty()) {
      // Second half of a CRLF whose CR ended the previous line.
      skip_lf_ = false;
      start = i + 1;
      continue;
    }
    skip_lf_ = (c == '\r');
    if (line_.empty()) {
      ProcessLine(bytes.substr(start, i - start), out);
    } else {
      line_.append(bytes.substr(start, i - start));
      ProcessLine(line_, out);
      line_.clear();
    }
    start = i + 1;
  }
  line_.append(bytes.substr(start));
  if (line_.size() + pending_.data.size() > max_event_bytes_) {
    return DataLossError("event-stream event larger than " + std::to_string(max_event_bytes_) +
                         " bytes");
  }
  return OkStatus();
}

void SseParser::Finish(std::vector<SseEvent>* out) {
  if (!line_.empty()) {
    std::string line = std::move(line_);
    line_.clear();
    ProcessLine(line, out);
  }
  ProcessLine("", out);
}

void SseParser::ProcessLine(std::string_view line, std::vector<SseEvent>* out) {
  if (line.empty()) {
    if (has_data_) {
      out->push_back(std::move(pending_));
    }
    pending_ = SseEvent();
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;
  std::string_view field = line;
  std::string_view value;
  if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) pending_.data.push_back('\n');
    pending_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    pending_.event.assign(value);
  }
}

}  // namespace sobre::backend::internal
