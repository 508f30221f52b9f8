// Which runtime a process runs (from /proc, nothing attached) and the --dump choice.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "harness/experiment/agent_dump.h"
#include "harness/experiment/runtime_dump.h"
#include "harness/measure/runtime_detect.h"
#include "tests/support/temp_dir.h"

namespace coder::harness {
namespace {

TEST(RuntimeDetectTest, NamesRoundTrip) {
  for (Runtime r : {Runtime::kNative, Runtime::kGo, Runtime::kJvm, Runtime::kPython, Runtime::kNode})
    EXPECT_EQ(RuntimeFromString(ToString(r)), r);
  EXPECT_EQ(RuntimeFromString("Go"), std::nullopt);
}

TEST(RuntimeDetectTest, TheMappingsNameTheJvmPythonAndNode) {
  const char* jvm = "7f00-7f01 r-xp 00000000 08:01 12 /usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so\n";
  const char* libpython = "7f00-7f01 r-xp 00000000 08:01 12 /usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0\n";
  const char* libnode = "7f00-7f01 r-xp 00000000 08:01 12 /usr/lib/x86_64-linux-gnu/libnode.so.108\n";
  EXPECT_EQ(RuntimeFromMaps(jvm, "java"), Runtime::kJvm);
  EXPECT_EQ(RuntimeFromMaps(libpython, "uwsgi"), Runtime::kPython);
  EXPECT_EQ(RuntimeFromMaps(libnode, "node-app"), Runtime::kNode);
  // A Java service that loads a libpython through JNI is still a JVM.
  EXPECT_EQ(RuntimeFromMaps(std::string(libpython) + jvm, "java"), Runtime::kJvm);
  EXPECT_EQ(RuntimeFromMaps("", "python3.11"), Runtime::kPython);
  EXPECT_EQ(RuntimeFromMaps("", "nodejs"), Runtime::kNode);
  EXPECT_EQ(RuntimeFromMaps("7f00-7f01 r-xp 00000000 08:01 12 /usr/lib/x86_64-linux-gnu/libc.so.6\n", "nginx"),
            Runtime::kNative);
  EXPECT_EQ(RuntimeFromMaps("7f00-7f01 rw-p 00000000 00:00 0 [heap]\n", "redis-server"), Runtime::kNative);
}

TEST(RuntimeDetectTest, NativeProgramsAndWhatIsNotElfAreNotGo) {
  EXPECT_FALSE(IsGoExecutable("/bin/sh"));
  EXPECT_FALSE(IsGoExecutable("/proc/self/exe"));
  EXPECT_FALSE(IsGoExecutable("/nonexistent/program"));
  test_support::TempDir dir;
  std::ofstream(dir.path() / "empty").close();
  EXPECT_FALSE(IsGoExecutable((dir.path() / "empty").string()));
  // Go's build-info magic in a text file does not make it a program.
  std::ofstream(dir.path() / "text") << "\xff Go buildinf: not an ELF\n";
  EXPECT_FALSE(IsGoExecutable((dir.path() / "text").string()));
  // An ELF header that claims section headers past the end of the file.
  std::ofstream(dir.path() / "truncated") << std::string(
                                                 "\x7f"
                                                 "ELF\x02\x01\x01",
                                                 7)
                                          << std::string(57, '\x7f');
  EXPECT_FALSE(IsGoExecutable((dir.path() / "truncated").string()));
}

TEST(RuntimeDetectTest, TheTestBinaryItselfIsNative) {
  EXPECT_EQ(DetectRuntime(getpid()), Runtime::kNative);
  // A process that is gone is nothing to dump.
  EXPECT_EQ(DetectRuntime(0x7ffffff0), Runtime::kNative);
}

TEST(DumpChoiceTest, ParsesTheModesAndRefusesWhatItDoesNotKnow) {
  EXPECT_EQ(DumpChoice::Parse("auto")->mode, DumpChoice::Mode::kAuto);
  EXPECT_EQ(DumpChoice::Parse("none")->mode, DumpChoice::Mode::kNone);
  EXPECT_EQ(DumpChoice::Parse("native")->mode, DumpChoice::Mode::kNative);
  const auto go = DumpChoice::Parse("go");
  ASSERT_TRUE(go);
  EXPECT_EQ(go->mode, DumpChoice::Mode::kForced);
  EXPECT_EQ(go->Name(), "go");
  for (const char* name : {"jvm", "python", "node"}) {
    const auto forced = DumpChoice::Parse(name);
    ASSERT_TRUE(forced) << name;
    EXPECT_EQ(forced->Name(), name);
  }
  const auto bad = DumpChoice::Parse("Go");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "--dump: want auto, go, jvm, python, node, native or none, not 'Go'");
}

// A pid found anywhere in the name matched another process's report whose time field was that number.
TEST(NodeReportNameTest, ThePidIsTheFourthFieldOnly) {
  EXPECT_TRUE(IsNodeReportOf("report.20261207.151442.1886.0.001.json", 1886));
  EXPECT_FALSE(IsNodeReportOf("report.20261207.151442.1886.0.001.json", 151442));
  EXPECT_FALSE(IsNodeReportOf("report.20261207.151442.1886.0.001.json", 188));
  EXPECT_FALSE(IsNodeReportOf("report.20261207.151442.1886.0.001.txt", 1886));
  EXPECT_FALSE(IsNodeReportOf("1886.txt", 1886));
  EXPECT_FALSE(IsNodeReportOf("report.1.2.json", 2));
}

TEST(DumpChoiceTest, ArmsTheAgentsOfAutoAndOfTheForcedRuntimeOnly) {
  const DumpChoice automatic = *DumpChoice::Parse("auto");
  EXPECT_TRUE(automatic.Arms(Runtime::kPython));
  EXPECT_TRUE(automatic.Arms(Runtime::kNode));
  const DumpChoice python = *DumpChoice::Parse("python");
  EXPECT_TRUE(python.Arms(Runtime::kPython));
  EXPECT_FALSE(python.Arms(Runtime::kNode));
  EXPECT_FALSE(python.Arms(Runtime::kGo));
  EXPECT_FALSE(DumpChoice::Parse("native")->Arms(Runtime::kPython));
  EXPECT_FALSE(DumpChoice::Parse("none")->Arms(Runtime::kNode));
}

TEST(DumpChoiceTest, AutoFollowsDetectionAndAForcedRuntimeTakesTheUnrecognised) {
  const DumpChoice automatic = *DumpChoice::Parse("auto");
  EXPECT_TRUE(automatic.Dumps(Runtime::kGo, Runtime::kGo));
  EXPECT_FALSE(automatic.Dumps(Runtime::kNative, Runtime::kGo));
  const DumpChoice forced = *DumpChoice::Parse("go");
  EXPECT_TRUE(forced.Dumps(Runtime::kNative, Runtime::kGo));
  EXPECT_FALSE(forced.Dumps(Runtime::kJvm, Runtime::kGo));  // SIGQUIT to a JVM is no Go dump
  EXPECT_FALSE(DumpChoice::Parse("native")->Dumps(Runtime::kGo, Runtime::kGo));
  EXPECT_TRUE(DumpChoice::Parse("native")->native_stacks());
  EXPECT_FALSE(DumpChoice::Parse("none")->native_stacks());
}

}  // namespace
}  // namespace coder::harness
