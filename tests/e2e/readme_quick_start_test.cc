// The README's quick start for your own server, run verbatim: the commands are read from the README
// itself, so an example that stops working fails here instead of rotting.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "harness/process/child_process.h"
#include "harness/process/command_line.h"
#include "tests/e2e/foreign_servers.h"

namespace coder::e2e {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr const char* kMarker = "<!-- quick-start: run verbatim by tests/e2e/readme_quick_start_test.cc -->";

/// The commands of the fenced block after the marker: comments dropped, `\` continuations joined.
std::vector<std::string> QuickStartCommands() {
  std::ifstream in(std::string(CODER_SOURCE_DIR) + "/README.md");
  std::string line;
  bool marked = false, in_block = false;
  std::vector<std::string> commands;
  std::string pending;
  while (std::getline(in, line)) {
    if (!marked) {
      marked = line == kMarker;
      continue;
    }
    if (!in_block) {
      in_block = line.rfind("```", 0) == 0;
      continue;
    }
    if (line.rfind("```", 0) == 0) break;
    if (line.empty() || line[0] == '#') continue;
    if (!line.empty() && line.back() == '\\') {
      pending += line.substr(0, line.size() - 1);
      continue;
    }
    commands.push_back(pending + line);
    pending.clear();
  }
  return commands;
}

TEST(ReadmeQuickStartTest, EveryExampleRunsVerbatimAndIsClean) {
  for (const char* program : {"python3", "nginx"}) CODER_REQUIRE_PROGRAM(SystemProgram(program), program);
  const auto commands = QuickStartCommands();
  ASSERT_EQ(commands.size(), 3u) << "the README's quick start lost its marker or its three commands";
  for (const auto& command : commands) {
    auto words = harness::SplitCommandLine(command);
    ASSERT_TRUE(words.ok()) << command;
    ASSERT_EQ(words->front(), "coder") << command;
    harness::LaunchSpec spec;
    spec.argv = *words;
    spec.argv.front() = CODER_BINARY_PATH;
    spec.working_dir = CODER_SOURCE_DIR;  // the examples' paths are the repository's
    auto child = harness::ChildProcess::Start(spec);
    ASSERT_TRUE(child.ok()) << child.error().message;
    const auto exit = (*child)->WaitUntil(std::chrono::steady_clock::now() + 60s);
    ASSERT_TRUE(exit) << command;
    EXPECT_EQ(exit->Describe(), "exit 0") << command << "\n" << (*child)->Output();
    EXPECT_THAT((*child)->Output(), HasSubstr("no findings in gated variants")) << command;
  }
}

}  // namespace
}  // namespace coder::e2e
