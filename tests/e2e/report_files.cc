#include "tests/e2e/report_files.h"

#include <fstream>
#include <iterator>

namespace coder::e2e {

std::string ReadText(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<std::string> ReadLines(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

nlohmann::json ReadJson(const std::filesystem::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in, nullptr, false);
}

std::vector<nlohmann::json> ReadJsonLines(const std::filesystem::path& p, std::string* torn) {
  const std::string text = ReadText(p);
  std::vector<nlohmann::json> lines;
  size_t start = 0;
  for (size_t nl = text.find('\n'); nl != std::string::npos; start = nl + 1, nl = text.find('\n', start))
    lines.push_back(nlohmann::json::parse(text.substr(start, nl - start), nullptr, false));
  if (torn) *torn = text.substr(start);
  return lines;
}

}  // namespace coder::e2e
