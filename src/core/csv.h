// Reading and writing the small CSV files sobre ships and accepts (RFC 4180 quoting, one record
// per line, '#' comment lines).
#ifndef SOBRE_CORE_CSV_H_
#define SOBRE_CORE_CSV_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sobre {

// One record and its 1-based line number in the file.
struct CsvLine {
  int line = 0;
  std::vector<std::string> fields;
};

// Splits one line. Fields may be double-quoted, with "" for a literal quote; unquoted fields are
// trimmed. Quoted fields cannot span lines. More than 64 fields is an error (hostile input).
StatusOr<std::vector<std::string>> SplitCsvLine(std::string_view line);

// Every non-blank line of `text` not starting with '#', split into fields. A UTF-8 byte-order
// mark and CRLF line ends are accepted. Errors are prefixed with "source:line".
StatusOr<std::vector<CsvLine>> ReadCsvLines(std::string_view text, std::string_view source);

// Quotes `field` for writing when it holds a comma, a quote or a line break.
std::string CsvQuote(std::string_view field);

}  // namespace sobre

#endif  // SOBRE_CORE_CSV_H_
