// The Python dump: parsing what faulthandler prints after the agent's header, and its verdict.
#include "harness/analysis/python_dump.h"

#include <gtest/gtest.h>

#include <string>

namespace coder::harness {
namespace {

// What Python 3.11's faulthandler wrote on SIGRTMIN+6 for a server whose SIGTERM handler joins a worker
// that never ends, after the header the harness's sitecustomize writes when it arms.
constexpr const char* kJoinHang = R"(# coder-dump python main-thread=0x7f35c5db4040 stdlib=/usr/lib/python3.11
Thread 0x00007f35c5af96c0 (most recent call first):
  File "/tmp/pyd/srv.py", line 5 in worker
  File "/usr/lib/python3.11/threading.py", line 975 in run
  File "/usr/lib/python3.11/threading.py", line 1038 in _bootstrap_inner
  File "/usr/lib/python3.11/threading.py", line 995 in _bootstrap

Current thread 0x00007f35c5db4040 (most recent call first):
  File "/usr/lib/python3.11/threading.py", line 1132 in _wait_for_tstate_lock
  File "/usr/lib/python3.11/threading.py", line 1112 in join
  File "/tmp/pyd/srv.py", line 10 in on_term
  File "/tmp/pyd/srv.py", line 14 in <module>
)";

TEST(PythonDumpTest, ReadsEveryThreadAndMarksTheMainOne) {
  const PythonDump dump = ParsePythonDump(kJoinHang);
  EXPECT_EQ(dump.stdlib, "/usr/lib/python3.11");
  ASSERT_EQ(dump.threads.size(), 2u);
  EXPECT_EQ(dump.threads[0].id, 0x7f35c5af96c0u);
  EXPECT_FALSE(dump.threads[0].main);
  EXPECT_FALSE(dump.threads[0].current);
  ASSERT_EQ(dump.threads[0].frames.size(), 4u);
  EXPECT_EQ(dump.threads[0].frames[0].file, "/tmp/pyd/srv.py");
  EXPECT_EQ(dump.threads[0].frames[0].line, 5);
  EXPECT_EQ(dump.threads[0].frames[0].function, "worker");
  EXPECT_TRUE(dump.threads[1].main);
  EXPECT_TRUE(dump.threads[1].current);
  EXPECT_EQ(dump.threads[1].frames.back().function, "<module>");
}

TEST(PythonDumpTest, TheVerdictNamesTheJoinAndTheProgramsFrames) {
  EXPECT_EQ(PythonDumpVerdict(ParsePythonDump(kJoinHang)),
            "main thread in threading.join from on_term (srv.py:10); 1 other thread in worker (srv.py:5)");
}

TEST(PythonDumpTest, ASecondDumpInTheFileReplacesTheFirst) {
  const std::string twice = std::string(kJoinHang) +
                            "Thread 0x00007f35c5af96c0 (most recent call first):\n"
                            "  File \"/tmp/pyd/srv.py\", line 6 in worker\n"
                            "\n"
                            "Current thread 0x00007f35c5db4040 (most recent call first):\n"
                            "  File \"/tmp/pyd/srv.py\", line 14 in <module>\n";
  const PythonDump dump = ParsePythonDump(twice);
  ASSERT_EQ(dump.threads.size(), 2u);
  EXPECT_EQ(dump.threads[0].frames.size(), 1u);
  EXPECT_EQ(dump.threads[0].frames[0].line, 6);
  EXPECT_TRUE(dump.threads[1].main);
  EXPECT_EQ(PythonDumpVerdict(dump), "main thread in <module> (srv.py:14); 1 other thread in worker (srv.py:6)");
}

TEST(PythonDumpTest, WithoutTheHeaderNoThreadIsCalledMainAndTheStdlibIsGuessed) {
  std::string text(kJoinHang);
  text.erase(0, text.find('\n') + 1);
  const PythonDump dump = ParsePythonDump(text);
  ASSERT_EQ(dump.threads.size(), 2u);
  EXPECT_FALSE(dump.threads[1].main);
  EXPECT_EQ(PythonDumpVerdict(dump),
            "1 thread in worker (srv.py:5); 1 thread in threading.join from on_term (srv.py:10)");
}

TEST(PythonDumpTest, ThreadsWaitingAlikeAreGroupedMostFirst) {
  std::string text = "# coder-dump python main-thread=0x1 stdlib=/usr/lib/python3.11\n";
  for (int i = 2; i < 6; ++i)
    text += "Thread 0x" + std::to_string(i) +
            " (most recent call first):\n"
            "  File \"/usr/lib/python3.11/queue.py\", line 171 in get\n"
            "  File \"/srv/pool.py\", line 20 in drain\n"
            "  File \"/usr/lib/python3.11/threading.py\", line 975 in run\n\n";
  text += "Thread 0x9 (most recent call first):\n  File \"/srv/app.py\", line 3 in tick\n\n";
  text += "Current thread 0x1 (most recent call first):\n  File \"/srv/app.py\", line 40 in main\n";
  EXPECT_EQ(PythonDumpVerdict(ParsePythonDump(text)),
            "main thread in main (app.py:40); 4 other threads in queue.get from drain (pool.py:20); 1 other thread "
            "in tick (app.py:3)");
  EXPECT_EQ(PythonDumpVerdict(ParsePythonDump(text), 1),
            "main thread in main (app.py:40); 4 other threads in queue.get from drain (pool.py:20); 1 more thread");
}

TEST(PythonDumpTest, SitePackagesAreTheProgramsAndFrozenModulesAreNot) {
  const std::string stdlib = "/usr/lib/python3.11";
  EXPECT_TRUE(IsStandardLibraryFrame({"/usr/lib/python3.11/threading.py", 1, "join"}, stdlib));
  EXPECT_TRUE(IsStandardLibraryFrame({"<frozen importlib._bootstrap>", 1, "_load"}, stdlib));
  EXPECT_FALSE(IsStandardLibraryFrame({"/usr/lib/python3/dist-packages/flask/app.py", 1, "run"}, stdlib));
  EXPECT_FALSE(IsStandardLibraryFrame({"/usr/lib/python3.11/site-packages/x.py", 1, "f"}, stdlib));
  EXPECT_FALSE(IsStandardLibraryFrame({"/usr/lib/python3.110/x.py", 1, "f"}, stdlib));
  EXPECT_TRUE(IsStandardLibraryFrame({"/opt/py/lib/python3.12/socketserver.py", 1, "serve_forever"}, ""));
}

TEST(PythonDumpTest, GarbageAndHalfWrittenLinesAreSkipped) {
  const PythonDump dump = ParsePythonDump(
      "Fatal Python error: something\nThread 0xzz (most recent\n  File \"/a.py\", line x in f\n"
      "Thread 0x10 (most recent call first):\n  File \"/a.py\", line 3 in f\n  File \"/b.py\", li");
  ASSERT_EQ(dump.threads.size(), 2u);
  EXPECT_EQ(dump.threads[1].frames.size(), 1u);
  EXPECT_EQ(PythonDumpVerdict(PythonDump{}), "");
}

}  // namespace
}  // namespace coder::harness
