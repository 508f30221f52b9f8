// The CI renderers over an arbitrary report document: JUnit must be well-formed XML 1.0, Markdown
// valid UTF-8 whose tables keep their columns, annotations one workflow command per line. Strings in
// the input may hold any bytes: code points U+F780..U+F7FF (private use) in a string stand for the raw
// bytes 0x80..0xFF, so the fuzzer can write invalid UTF-8 into a log tail or a variant name, as a
// target's output can.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_check.h"
#include "harness/report/annotations.h"
#include "harness/report/junit.h"
#include "harness/report/markdown.h"
#include "harness/report/report_view.h"
#include "tests/harness/xml_check.h"

namespace {

using coder::fuzz::Escape;
using nlohmann::json;

// U+F780..U+F7FF is EF 9E 80 .. EF 9F BF in UTF-8.
std::string RawBytes(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    if (i + 2 < s.size() && b(i) == 0xEF && (b(i + 1) == 0x9E || b(i + 1) == 0x9F) && (b(i + 2) & 0xC0) == 0x80) {
      out += static_cast<char>(0x80 | ((b(i + 1) & 1) << 6) | (b(i + 2) & 0x3F));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

void WithRawBytes(json& j) {
  if (j.is_string()) {
    j = RawBytes(j.get<std::string>());
  } else if (j.is_structured()) {
    for (auto& child : j) WithRawBytes(child);
  }
}

bool IsValidUtf8(std::string_view s) { return coder::ValidUtf8(s) == s; }

// Unescaped pipes in a Markdown table row: its column count.
size_t Pipes(std::string_view row) {
  size_t n = 0;
  for (size_t i = 0; i < row.size(); ++i) {
    if (row[i] == '\\') ++i;
    else if (row[i] == '|') ++n;
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto report = json::parse(std::string_view(reinterpret_cast<const char*>(data), size), nullptr, false);
  if (report.is_discarded()) return 0;
  WithRawBytes(report);

  // Reading is strict: what does not read is an error naming a key, and only a document is rendered.
  auto read = coder::harness::ReadWholeReport(report);
  if (!read) {
    FUZZ_CHECK(!read.error().message.empty(), "a read error without a message");
    return 0;
  }
  const coder::harness::ReportDocument& document = read->document;
  const coder::harness::RunSource& runs = read->runs;

  const std::string xml = coder::harness::RenderJunit(document, runs);
  std::string error;
  FUZZ_CHECK(coder::harness::testing::XmlCheck::Parse(xml, &error).has_value(), error + "\n" + Escape(xml));

  const std::string md = coder::harness::RenderMarkdown(document, runs);
  FUZZ_CHECK(!md.empty() && md.back() == '\n', "Markdown does not end with a newline");
  FUZZ_CHECK(IsValidUtf8(md), "Markdown is not UTF-8: " + Escape(md));
  size_t columns = 0;
  size_t line_start = 0;
  while (line_start < md.size()) {
    const size_t end = md.find('\n', line_start);
    const std::string_view line(md.data() + line_start, end - line_start);
    for (unsigned char c : line)
      FUZZ_CHECK((c >= 0x20 && c != 0x7f) || c == '\t', "control character in: " + Escape(line));
    if (line.starts_with("|")) {
      if (columns == 0) columns = Pipes(line);
      FUZZ_CHECK(Pipes(line) == columns, "a table row with another column count: " + Escape(line));
    } else {
      columns = 0;
    }
    line_start = end + 1;
  }

  const std::string annotations = coder::harness::RenderGithubAnnotations(document, runs);
  FUZZ_CHECK(IsValidUtf8(annotations), Escape(annotations));
  line_start = 0;
  while (line_start < annotations.size()) {
    const size_t end = annotations.find('\n', line_start);
    FUZZ_CHECK(end != std::string::npos, "the last annotation lacks its newline");
    const std::string_view line(annotations.data() + line_start, end - line_start);
    FUZZ_CHECK(line.starts_with("::error ") || line.starts_with("::warning "),
               "not a workflow command: " + Escape(line));
    FUZZ_CHECK(line.find('\r') == std::string_view::npos, Escape(line));
    line_start = end + 1;
  }
  return 0;
}
