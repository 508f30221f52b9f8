#pragma once

// Reading back the files `coder diag` writes (reports, JSONL, logs), shared by the e2e tests.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace coder::e2e {

/// The whole file; empty if it cannot be read.
std::string ReadText(const std::filesystem::path& p);

/// The file's lines without their newlines.
std::vector<std::string> ReadLines(const std::filesystem::path& p);

/// The file parsed as one JSON document; a discarded value (is_discarded()) if it is missing or invalid,
/// so a test asserts on the value rather than catching.
nlohmann::json ReadJson(const std::filesystem::path& p);

/// Each newline-terminated line parsed as JSON (discarded values for invalid lines). A last line without
/// its newline is not a record: it goes to `torn` when given.
std::vector<nlohmann::json> ReadJsonLines(const std::filesystem::path& p, std::string* torn = nullptr);

}  // namespace coder::e2e
