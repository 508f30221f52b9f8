// The Go goroutine dump: parsing what SIGQUIT prints and the one-sentence verdict.
#include "harness/analysis/go_dump.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <string>

namespace coder::harness {
namespace {

// Go 1.19's SIGQUIT output for a server whose Close waits on a wait group that serveRPC holds
// (GOTRACEBACK=all), trimmed to the banner, goroutine 0, one goroutine of each kind and the registers.
constexpr const char* kWaitGroupHang = R"(SIGQUIT: quit
PC=0x4657c1 m=0 sigcode=0

goroutine 0 [idle]:
runtime.futex()
	/usr/lib/go-1.19/src/runtime/sys_linux_amd64.s:559 +0x21 fp=0x7ffc32d38630 sp=0x7ffc32d38628 pc=0x4657c1

goroutine 1 [select]:
runtime.gopark(0xc00004deb8?, 0x2?, 0x0?, 0x30?, 0xc00004de9c?)
	/usr/lib/go-1.19/src/runtime/proc.go:363 +0xd6 fp=0xc00004dd28 sp=0xc00004dd08 pc=0x437cf6
runtime.selectgo(0xc00004deb8, 0xc00004de98, 0x4ed5a0?, 0x0, 0xc00004ded8?, 0x1)
	/usr/lib/go-1.19/src/runtime/select.go:328 +0x7bc fp=0xc00004de68 sp=0xc00004dd28 pc=0x44715c
main.(*API).Close(0xc000016060)
	/src/gohang/main.go:36 +0xd8 fp=0xc00004dee8 sp=0xc00004de68 pc=0x4c97d8
main.main()
	/src/gohang/main.go:64 +0x1fd fp=0xc00004df80 sp=0xc00004dee8 pc=0x4c9a9d
runtime.main()
	/usr/lib/go-1.19/src/runtime/proc.go:250 +0x212 fp=0xc00004dfe0 sp=0xc00004df80 pc=0x437932
runtime.goexit()
	/usr/lib/go-1.19/src/runtime/asm_amd64.s:1594 +0x1 fp=0xc00004dfe8 sp=0xc00004dfe0 pc=0x463901

goroutine 2 [force gc (idle)]:
runtime.gopark(0x0?, 0x0?, 0x0?, 0x0?, 0x0?)
	/usr/lib/go-1.19/src/runtime/proc.go:363 +0xd6 fp=0xc00003afb0 sp=0xc00003af90 pc=0x437cf6
runtime.goparkunlock(...)
	/usr/lib/go-1.19/src/runtime/proc.go:369
runtime.forcegchelper()
	/usr/lib/go-1.19/src/runtime/proc.go:302 +0xad fp=0xc00003afe0 sp=0xc00003afb0 pc=0x437b8d
runtime.goexit()
	/usr/lib/go-1.19/src/runtime/asm_amd64.s:1594 +0x1 fp=0xc00003afe8 sp=0xc00003afe0 pc=0x463901
created by runtime.init.6
	/usr/lib/go-1.19/src/runtime/proc.go:290 +0x25

goroutine 6 [chan receive]:
runtime.gopark(0x0?, 0x0?, 0x0?, 0x0?, 0x0?)
	/usr/lib/go-1.19/src/runtime/proc.go:363 +0xd6 fp=0xc00003c6c8 sp=0xc00003c6a8 pc=0x437cf6
runtime.chanrecv1(0x0?, 0x0?)
	/usr/lib/go-1.19/src/runtime/chan.go:442 +0x18 fp=0xc00003c780 sp=0xc00003c758 pc=0x406e18
main.(*API).serveRPC(0x0?, 0x0?)
	/src/gohang/main.go:20 +0x57 fp=0xc00003c7c0 sp=0xc00003c780 pc=0x4c9537
main.(*API).CreateInMemoryAIBridgeServer.func1()
	/src/gohang/main.go:26 +0x2a fp=0xc00003c7e0 sp=0xc00003c7c0 pc=0x4c96ca
runtime.goexit()
	/usr/lib/go-1.19/src/runtime/asm_amd64.s:1594 +0x1 fp=0xc00003c7e8 sp=0xc00003c7e0 pc=0x463901
created by main.(*API).CreateInMemoryAIBridgeServer
	/src/gohang/main.go:26 +0x99

goroutine 7 [IO wait]:
runtime.gopark(0x0?, 0x0?, 0x0?, 0x0?, 0xc00003cdf8?)
	/usr/lib/go-1.19/src/runtime/proc.go:363 +0xd6 fp=0xc00003cd88 sp=0xc00003cd68 pc=0x437cf6
internal/poll.runtime_pollWait(0x7f10fe9b0ef8, 0x72)
	/usr/lib/go-1.19/src/runtime/netpoll.go:305 +0x89 fp=0xc00003cde0 sp=0xc00003cdc0 pc=0x45ee69
internal/poll.(*pollDesc).wait(0xc000086000?, 0x0?, 0x0)
	/usr/lib/go-1.19/src/internal/poll/fd_poll_runtime.go:84 +0x32 fp=0xc00003ce08 sp=0xc00003cde0 pc=0x48f612
net.(*TCPListener).Accept(0xc000012078)
	/usr/lib/go-1.19/src/net/tcpsock.go:288 +0x3d fp=0xc00003cfb8 sp=0xc00003cf88 pc=0x4c1b5d
main.main.func1()
	/src/gohang/main.go:52 +0x42 fp=0xc00003cfe0 sp=0xc00003cfb8 pc=0x4c9b22
created by main.main
	/src/gohang/main.go:50 +0x10b

goroutine 9 [syscall]:
runtime.notetsleepg(0xffffffffffffffff?, 0xc00003df28?)
	/usr/lib/go-1.19/src/runtime/lock_futex.go:236 +0x34 fp=0xc00003dfa0 sp=0xc00003df68 pc=0x40c314
os/signal.signal_recv()
	/usr/lib/go-1.19/src/runtime/sigqueue.go:152 +0x2f fp=0xc00003dfc0 sp=0xc00003dfa0 pc=0x46048f
os/signal.loop()
	/usr/lib/go-1.19/src/os/signal/signal_unix.go:23 +0x19 fp=0xc00003dfe0 sp=0xc00003dfc0 pc=0x4c9459
created by os/signal.Notify.func1.1
	/usr/lib/go-1.19/src/os/signal/signal.go:151 +0x2a

goroutine 18 [semacquire, 3 minutes]:
runtime.gopark(0x0?, 0x0?, 0x20?, 0x1?, 0x0?)
	/usr/lib/go-1.19/src/runtime/proc.go:363 +0xd6 fp=0xc000036700 sp=0xc0000366e0 pc=0x437cf6
runtime.semacquire1(0xc000016068, 0x0?, 0x1, 0x0)
	/usr/lib/go-1.19/src/runtime/sema.go:150 +0x1fe fp=0xc000036768 sp=0xc000036700 pc=0x44821e
sync.runtime_Semacquire(0x0?)
	/usr/lib/go-1.19/src/runtime/sema.go:62 +0x25 fp=0xc000036798 sp=0xc000036768 pc=0x460185
sync.(*WaitGroup).Wait(0x0?)
	/usr/lib/go-1.19/src/sync/waitgroup.go:139 +0x52 fp=0xc0000367c0 sp=0xc000036798 pc=0x46fb12
main.(*API).Close.func1()
	/src/gohang/main.go:33 +0x28 fp=0xc0000367e0 sp=0xc0000367c0 pc=0x4c9868
created by main.(*API).Close
	/src/gohang/main.go:32 +0x6a

rax    0xca
rbx    0x0
)";

TEST(GoDumpTest, ParsesEveryGoroutineButTheSignalsOwn) {
  const GoDump dump = ParseGoDump(kWaitGroupHang);
  ASSERT_EQ(dump.goroutines.size(), 6u);
  EXPECT_EQ(dump.goroutines[0].id, 1);
  EXPECT_EQ(dump.goroutines[0].state, "select");
  ASSERT_EQ(dump.goroutines[0].frames.size(), 6u);
  EXPECT_EQ(dump.goroutines[0].frames[2].function, "main.(*API).Close");
  EXPECT_EQ(dump.goroutines[0].frames[2].file, "/src/gohang/main.go");
  EXPECT_EQ(dump.goroutines[0].frames[2].line, 36);
  // An inlined frame has "(...)" and a location without an offset.
  EXPECT_EQ(dump.goroutines[1].frames[1].function, "runtime.goparkunlock");
  EXPECT_EQ(dump.goroutines[1].frames[1].line, 369);
  const Goroutine& waiter = dump.goroutines.back();
  EXPECT_EQ(waiter.id, 18);
  EXPECT_EQ(waiter.state, "semacquire");
  EXPECT_EQ(waiter.wait_minutes, 3);
  EXPECT_EQ(waiter.created_by.function, "main.(*API).Close");
  EXPECT_EQ(waiter.created_by.line, 32);
  // The banner's PC line and the registers are neither headers nor frames.
  EXPECT_EQ(dump.skipped_lines, 4u);
}

TEST(GoDumpTest, ReadsTheHeaderSuffixesOfEveryGoVersion) {
  const GoDump dump = ParseGoDump(
      "goroutine 8 [select, locked to thread]:\nruntime.gopark(0x0)\n\t/go/src/runtime/proc.go:363 +0xd6\n\n"
      "goroutine 12 [chan send, 41 minutes, locked to thread]:\nmain.send()\n\t/src/main.go:7 +0x1\n"
      "created by main.main in goroutine 1\n\t/src/main.go:3 +0x2\n");
  ASSERT_EQ(dump.goroutines.size(), 2u);
  EXPECT_TRUE(dump.goroutines[0].locked_to_thread);
  EXPECT_EQ(dump.goroutines[0].state, "select");
  EXPECT_EQ(dump.goroutines[1].state, "chan send");
  EXPECT_EQ(dump.goroutines[1].wait_minutes, 41);
  EXPECT_TRUE(dump.goroutines[1].locked_to_thread);
  // Go 1.21 names the creating goroutine after the function.
  EXPECT_EQ(dump.goroutines[1].created_by.function, "main.main");
  EXPECT_EQ(dump.goroutines[1].created_by.line, 3);
}

TEST(GoDumpTest, ACutDumpKeepsTheGoroutinesBeforeTheCut) {
  std::string text = kWaitGroupHang;
  text.resize(text.find("goroutine 18") + 40);  // mid-frame, as a capture at its limit ends
  const GoDump dump = ParseGoDump(text);
  ASSERT_EQ(dump.goroutines.size(), 6u);
  EXPECT_EQ(dump.goroutines.back().id, 18);
}

TEST(GoDumpTest, WhatIsNotADumpParsesToNothing) {
  EXPECT_TRUE(ParseGoDump("").goroutines.empty());
  EXPECT_TRUE(ParseGoDump("goroutine x\nrandom log line\n\tindented\n").goroutines.empty());
  EXPECT_EQ(GoDumpVerdict(ParseGoDump("panic: nothing here\n")), "");
}

TEST(GoDumpTest, RuntimeGoroutinesAreTheRuntimesOrTheSignalLoops) {
  const GoDump dump = ParseGoDump(kWaitGroupHang);
  std::vector<long> runtime_ids;
  for (const Goroutine& g : dump.goroutines)
    if (IsRuntimeGoroutine(g)) runtime_ids.push_back(g.id);
  EXPECT_EQ(runtime_ids, (std::vector<long>{2, 9}));
}

TEST(GoDumpTest, TheWaitingFrameIsTheFirstOutsideTheRuntime) {
  const GoDump dump = ParseGoDump(kWaitGroupHang);
  const Goroutine& waiter = dump.goroutines.back();
  ASSERT_NE(WaitingFrame(waiter), nullptr);
  EXPECT_EQ(WaitingFrame(waiter)->function, "sync.(*WaitGroup).Wait");
  ASSERT_NE(OwnCodeFrame(waiter), nullptr);
  EXPECT_EQ(OwnCodeFrame(waiter)->function, "main.(*API).Close.func1");
  const Goroutine& accept = dump.goroutines[3];
  EXPECT_EQ(WaitingFrame(accept)->function, "internal/poll.(*pollDesc).wait");
  EXPECT_EQ(OwnCodeFrame(accept)->function, "main.main.func1");
}

TEST(GoDumpTest, ImportPathsWithADomainAreTheProgramsOwnCode) {
  const GoDump dump = ParseGoDump(
      "goroutine 3 [chan receive]:\ngithub.com/coder/coder/v2/coderd.(*API).Close(0x1)\n\t/src/coderd.go:98 +0x1\n"
      "encoding/json.Marshal(0x1)\n\t/go/src/encoding/json/encode.go:1 +0x1\n");
  ASSERT_EQ(dump.goroutines.size(), 1u);
  ASSERT_NE(OwnCodeFrame(dump.goroutines[0]), nullptr);
  EXPECT_EQ(OwnCodeFrame(dump.goroutines[0])->function, "github.com/coder/coder/v2/coderd.(*API).Close");
}

TEST(GoDumpTest, TheVerdictLeadsWithTheMainGoroutineThenTheWaitGroupWaiters) {
  EXPECT_EQ(GoDumpVerdict(ParseGoDump(kWaitGroupHang)),
            "main goroutine [select] in main.(*API).Close (main.go:36); "
            "1 goroutine [semacquire, 3 min] in sync.(*WaitGroup).Wait from main.(*API).Close.func1 (main.go:33), "
            "created by main.(*API).Close (main.go:32); "
            "1 goroutine [chan receive] in main.(*API).serveRPC (main.go:20), "
            "created by main.(*API).CreateInMemoryAIBridgeServer (main.go:26); "
            "1 goroutine [IO wait] in internal/poll.(*pollDesc).wait from main.main.func1 (main.go:52), "
            "created by main.main (main.go:50)");
}

TEST(GoDumpTest, IdenticalGoroutinesAreOneGroupAndTheRestAreCounted) {
  std::string text;
  for (int i = 0; i < 300; ++i)
    text += fmt::format(
        "goroutine {} [IO wait]:\ninternal/poll.(*pollDesc).wait(0x1)\n\t/go/src/internal/poll/fd.go:84 +0x1\n"
        "main.handle(0x1)\n\t/src/main.go:40 +0x1\ncreated by main.serve\n\t/src/main.go:30 +0x1\n\n",
        i + 10);
  for (int i = 0; i < 5; ++i)
    text += fmt::format(
        "goroutine {} [sleep]:\ntime.Sleep(0x1)\n\t/go/src/time/sleep.go:1 +0x1\nmain.tick{}()\n"
        "\t/src/main.go:{} +0x1\n\n",
        i + 1000, i, 50 + i);
  const std::string verdict = GoDumpVerdict(ParseGoDump(text), 2);
  EXPECT_EQ(
      verdict,
      "300 goroutines [IO wait] in internal/poll.(*pollDesc).wait from main.handle (main.go:40), created by "
      "main.serve (main.go:30); 1 goroutine [sleep] in time.Sleep from main.tick0 (main.go:50); 4 more goroutines");
}

}  // namespace
}  // namespace coder::harness
