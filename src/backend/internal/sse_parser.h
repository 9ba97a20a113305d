// SseParser: splits a text/event-stream body into events, whatever the read boundaries.
#ifndef SOBRE_BACKEND_INTERNAL_SSE_PARSER_H_
#define SOBRE_BACKEND_INTERNAL_SSE_PARSER_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sobre::backend::internal {

// One dispatched event. `data` joins the event's data lines with '\n'.
struct SseEvent {
  std::string event;  // The "event:" field; empty for the default "message".
  std::string data;
};

// Incremental parser following the WHATWG event-stream rules: lines end in LF, CRLF or CR (a CRLF
// may be split across two Feed calls), a blank line dispatches the event, lines starting with ':'
// are comments, "field: value" drops one space after the colon, events without data are not
// dispatched, a leading UTF-8 BOM is skipped. "id" and "retry" fields are ignored.
// Thread-compatible: one parser per stream.
class SseParser {
 public:
  // `max_event_bytes` bounds the memory an event (or an unterminated line) may take.
  explicit SseParser(size_t max_event_bytes = 16u << 20) : max_event_bytes_(max_event_bytes) {}

  // Parses `bytes` and appends the events they complete to `out`. Returns DataLoss when an event
  // grows beyond max_event_bytes; the parser is then unusable.
  Status Feed(std::string_view bytes, std::vector<SseEvent>* out);

  // At the end of the stream: treats an unterminated last line as complete and dispatches a
  // pending event even without its blank line (servers that end with "data: [DONE]\n").
  void Finish(std::vector<SseEvent>* out);

 private:
  void ProcessLine(std::string_view line, std::vector<SseEvent>* out);

  size_t max_event_bytes_;
  std::string line_;       // Bytes of the current, unterminated line.
  SseEvent pending_;       // The event being built.
  bool has_data_ = false;  // pending_ has at least one data line.
  bool skip_lf_ = false;   // The last byte seen was a CR: an LF right after belongs to it.
  bool at_start_ = true;   // Nothing seen yet (BOM check).
};

}  // namespace sobre::backend::internal

#endif  // SOBRE_BACKEND_INTERNAL_SSE_PARSER_H_
