// SplitCommandLine over arbitrary text (each --target command): words quoted back the POSIX way split
// to the same words, text without quoting characters splits on blanks, errors are the documented ones.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "harness/process/command_line.h"

namespace {

using coder::fuzz::Escape;

// Each word in single quotes, a quote inside written as '\'' : what a user would type in a shell.
std::string JoinQuoted(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) {
    if (!out.empty()) out += ' ';
    out += '\'';
    for (char c : w) {
      if (c == '\'') out += "'\\''";
      else out += c;
    }
    out += '\'';
  }
  return out;
}

std::string Describe(const std::vector<std::string>& words) {
  std::string out = "[";
  for (const auto& w : words) out += "\"" + Escape(w) + "\" ";
  return out + "]";
}

void CheckRoundTrip(const std::vector<std::string>& words, std::string_view origin) {
  const std::string joined = JoinQuoted(words);
  const auto again = coder::harness::SplitCommandLine(joined);
  FUZZ_CHECK(again.ok(), "quoted words do not split: " + Escape(joined));
  FUZZ_CHECK(*again == words, "from " + Escape(origin) + ": " + Describe(words) + " quoted as " + Escape(joined) +
                                  " splits to " + Describe(*again));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto words = coder::harness::SplitCommandLine(text);
  if (words.ok()) {
    CheckRoundTrip(*words, text);
    if (text.find_first_of("'\"\\") == std::string_view::npos) {
      // Nothing quoted: the words are exactly the runs of non-blanks.
      std::vector<std::string> plain;
      std::string current;
      for (char c : text) {
        if (c == ' ' || c == '\t' || c == '\n') {
          if (!current.empty()) plain.push_back(std::move(current));
          current.clear();
        } else {
          current += c;
        }
      }
      if (!current.empty()) plain.push_back(current);
      FUZZ_CHECK(*words == plain, Escape(text) + " split as " + Describe(*words));
    }
  } else {
    const std::string& message = words.error().message;
    FUZZ_CHECK(message.starts_with("unterminated ' in: ") || message.starts_with("unterminated \" in: ") ||
                   message.starts_with("trailing backslash in: "),
               message);
    FUZZ_CHECK(text.find_first_of("'\"\\") != std::string_view::npos, "plain text rejected: " + Escape(text));
  }

  // Any list of words, empty words and every byte included, survives quoting and splitting.
  FuzzedDataProvider provider(data, size);
  std::vector<std::string> generated;
  while (provider.remaining_bytes() > 0 && generated.size() < 16)
    generated.push_back(provider.ConsumeRandomLengthString(64));
  CheckRoundTrip(generated, "generated words");
  return 0;
}
