#include "core/csv.h"

#include "core/strings.h"

namespace sobre {
namespace {

constexpr size_t kMaxFieldsPerLine = 64;

std::string Where(std::string_view source, int line) {
  return std::string(source) + ":" + std::to_string(line);
}

}  // namespace

StatusOr<std::vector<std::string>> SplitCsvLine(std::string_view line) {
  std::vector<std::string> fields;
  std::string field;
  size_t i = 0;
  for (;;) {
    field.clear();
    // Leading spaces before an opening quote are tolerated.
    size_t j = i;
    while (j < line.size() && line[j] == ' ') ++j;
    if (j < line.size() && line[j] == '"') {
      i = j + 1;
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        field.push_back(line[i++]);
      }
      if (!closed) return InvalidArgumentError("unterminated quoted field");
      while (i < line.size() && line[i] == ' ') ++i;
      if (i < line.size() && line[i] != ',') {
        return InvalidArgumentError("unexpected text after a quoted field");
      }
    } else {
      size_t end = line.find(',', i);
      if (end == std::string_view::npos) end = line.size();
      field.assign(Trim(line.substr(i, end - i)));
      if (field.find('"') != std::string::npos) {
        return InvalidArgumentError("stray quote in an unquoted field");
      }
      i = end;
    }
    fields.push_back(field);
    if (fields.size() > kMaxFieldsPerLine) return InvalidArgumentError("too many fields");
    if (i >= line.size()) break;
    ++i;  // Skip the comma.
  }
  return fields;
}

StatusOr<std::vector<CsvLine>> ReadCsvLines(std::string_view text, std::string_view source) {
  if (StartsWith(text, "\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 byte-order mark.
  std::vector<CsvLine> lines;
  int line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string_view trimmed = Trim(line);
    if (trimmed.empty() || trimmed.front() == '#') continue;
    StatusOr<std::vector<std::string>> fields = SplitCsvLine(line);
    if (!fields.ok()) return fields.status().WithContext(Where(source, line_no));
    lines.push_back(CsvLine{line_no, std::move(fields).value()});
  }
  return lines;
}

std::string CsvQuote(std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace sobre
