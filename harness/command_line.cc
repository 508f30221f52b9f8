#include "harness/command_line.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace coder::harness {

Result<std::vector<std::string>> SplitCommandLine(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\'') {
      const size_t end = text.find('\'', i + 1);
      if (end == std::string_view::npos) return Error{fmt::format("unterminated ' in: {}", text)};
      word.append(text.substr(i + 1, end - i - 1));
      in_word = true;
      i = end;
    } else if (c == '"') {
      in_word = true;
      size_t j = i + 1;
      for (; j < text.size() && text[j] != '"'; ++j) {
        if (text[j] == '\\' && j + 1 < text.size() && std::strchr("\"\\$`", text[j + 1]) != nullptr) ++j;
        word.push_back(text[j]);
      }
      if (j >= text.size()) return Error{fmt::format("unterminated \" in: {}", text)};
      i = j;
    } else if (c == '\\') {
      if (i + 1 >= text.size()) return Error{fmt::format("trailing backslash in: {}", text)};
      word.push_back(text[++i]);
      in_word = true;
    } else {
      word.push_back(c);
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

Result<std::string> ResolveExecutable(const std::string& program) {
  auto check = [](const std::string& path) -> Status {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) return Error{fmt::format("cannot execute {}: {}", path, std::strerror(errno))};
    if (S_ISDIR(st.st_mode)) return Error{fmt::format("cannot execute {}: it is a directory", path)};
    if (::access(path.c_str(), X_OK) != 0)
      return Error{fmt::format("cannot execute {}: {}", path, std::strerror(errno))};
    return Ok{};
  };
  if (program.empty()) return Error{"the target command is empty"};
  if (program.find('/') != std::string::npos) {
    if (auto ok = check(program); !ok) return ok.error();
    return program;
  }
  const char* path_env = std::getenv("PATH");
  std::string_view dirs = path_env ? path_env : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const size_t colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + program;
    if (check(candidate).ok()) return candidate;
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return Error{fmt::format("cannot execute {}: not found in PATH", program)};
}

}  // namespace coder::harness
