// calibrated_target: a small server-like program whose readiness, memory, output and shutdown are set
// exactly by flags, so tests can prove what the harness measures. Plain POSIX and the standard library.
//
// Signals are handled the ninja way: the handler only records the signal and writes its number to a
// self-pipe; the main loop acts on it. Every delay is a configured one; nothing waits "a bit".
//
// Output contract (each line written with one write(2), unbuffered):
//   grandchild <pid> ready            --fork-grandchild, once the grandchild holds its memory
//   daemon <pid> ready                --daemon-grandchild, once the daemon has left the session
//   rss_before_hold_kib=<n>           --report-rss, before the memory is held
//   <ready line>                      after --ready-after-ms (handlers installed; a listener on
//                                     127.0.0.1 bound just before: --http-port's, else a free port's,
//                                     none with --no-listen)
//   signal <NAME> received            first SIGINT/SIGTERM
//   ignoring <NAME>                   --ignore-signals, each SIGINT/SIGTERM
//   <--print-after-signal text>       right after the first signal
//   exiting with code <n>             just before a normal exit
//
// After the first SIGINT/SIGTERM and --exit-after-ms, it ends one way: abort() (--crash), re-raising
// the signal with its default action (--die-by-signal), or exit(--exit-code, default 0).
// --exit-after-ready N ends it with exit(N) right after the ready line, with no signal.
// --stop-itself sends itself SIGTERM right after the ready line: the whole ready/signal/exit cycle with
// nobody watching, what scripts/compare-hyperfine times the harness's full cycle against.
//
// Workers: --children N forks N children before the ready line, each holding --child-hold-mib of touched
// memory before the ready line is printed (as nginx's master starts its workers). When the parent
// exits, whichever way, it first sends each child SIGTERM and reaps it, so the workers end with it.
//
// Floods: --flood-bytes writes that much before the ready line, --flood-after-signal after the first
// signal (before the exit delay starts); both repeat --flood-line (default 99 'x') as whole lines.
// --tag TEXT is ignored: it marks the command line so tests can find every process of theirs in /proc.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "tests/helpers/sanitizers.h"

#if CODER_ADDRESS_SANITIZER
// LeakSanitizer's exit-time scan would add hundreds of milliseconds (and megabytes) to every exit of a
// program that holds memory on purpose, and the tests measure exactly that exit and that memory. Leaks
// in this helper are not the project's; ASan and UBSan stay on. ASAN_OPTIONS can still override it.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }
#endif

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Options {
  long ready_after_ms = 0;
  std::optional<std::string> ready_line;
  bool never_ready = false;
  long hold_mib = 0;
  long exit_after_ms = 0;
  int exit_code = 0;
  bool ignore_signals = false;
  bool quiet = false;  // with --ignore-signals: say nothing about it (a silent hang)
  bool die_by_signal = false;
  bool crash = false;
  bool crash_before_ready = false;
  std::optional<int> exit_before_ready;
  bool fork_grandchild = false;
  bool daemon_grandchild = false;
  std::optional<int> exit_after_ready;
  bool stop_itself = false;
  long grandchild_hold_mib = 0;
  double lines_per_second = 0;
  long flood_bytes = 0;
  long flood_after_signal = 0;
  std::string flood_line = std::string(99, 'x');
  bool close_stdout = false;
  std::optional<int> http_port;
  std::optional<std::string> print_after_signal;
  bool report_rss = false;
  bool no_listen = false;
  long children = 0;
  long child_hold_mib = 0;
};

constexpr const char* kUsage =
    "usage: calibrated_target [--ready-after-ms D] [--ready-line TEXT] [--never-ready]\n"
    "  [--hold-mib M] [--exit-after-ms E] [--exit-code N] [--ignore-signals] [--quiet] [--die-by-signal]\n"
    "  [--crash] [--crash-before-ready] [--exit-before-ready N] [--fork-grandchild]\n"
    "  [--grandchild-hold-mib M] [--daemon-grandchild] [--exit-after-ready N] [--stop-itself] [--lines-per-second N]\n"
    "  [--flood-bytes N] [--flood-after-signal N] [--flood-line TEXT] [--close-stdout]\n"
    "  [--http-port P] [--print-after-signal TEXT] [--report-rss] [--children N] [--child-hold-mib M]\n"
    "  [--no-listen] [--tag TEXT]\n";

[[noreturn]] void Usage(const std::string& problem) {
  std::fprintf(stderr, "calibrated_target: %s\n%s", problem.c_str(), kUsage);
  std::exit(2);
}

long ParseLong(const std::string& flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < 0) Usage("bad value for " + flag + ": " + text);
  return v;
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) Usage(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--ready-after-ms") o.ready_after_ms = ParseLong(flag, value());
    else if (flag == "--ready-line") o.ready_line = value();
    else if (flag == "--never-ready") o.never_ready = true;
    else if (flag == "--hold-mib") o.hold_mib = ParseLong(flag, value());
    else if (flag == "--exit-after-ms") o.exit_after_ms = ParseLong(flag, value());
    else if (flag == "--exit-code") o.exit_code = static_cast<int>(ParseLong(flag, value()));
    else if (flag == "--ignore-signals") o.ignore_signals = true;
    else if (flag == "--quiet") o.quiet = true;
    else if (flag == "--die-by-signal") o.die_by_signal = true;
    else if (flag == "--crash") o.crash = true;
    else if (flag == "--crash-before-ready") o.crash_before_ready = true;
    else if (flag == "--exit-before-ready") o.exit_before_ready = static_cast<int>(ParseLong(flag, value()));
    else if (flag == "--fork-grandchild") o.fork_grandchild = true;
    else if (flag == "--daemon-grandchild") o.daemon_grandchild = true;
    else if (flag == "--exit-after-ready") o.exit_after_ready = static_cast<int>(ParseLong(flag, value()));
    else if (flag == "--stop-itself") o.stop_itself = true;
    else if (flag == "--flood-after-signal") o.flood_after_signal = ParseLong(flag, value());
    else if (flag == "--flood-line") o.flood_line = value();
    else if (flag == "--tag") value();
    else if (flag == "--grandchild-hold-mib") o.grandchild_hold_mib = ParseLong(flag, value());
    else if (flag == "--lines-per-second") o.lines_per_second = static_cast<double>(ParseLong(flag, value()));
    else if (flag == "--flood-bytes") o.flood_bytes = ParseLong(flag, value());
    else if (flag == "--close-stdout") o.close_stdout = true;
    else if (flag == "--http-port") o.http_port = static_cast<int>(ParseLong(flag, value()));
    else if (flag == "--print-after-signal") o.print_after_signal = value();
    else if (flag == "--report-rss") o.report_rss = true;
    else if (flag == "--no-listen") o.no_listen = true;
    else if (flag == "--children") o.children = ParseLong(flag, value());
    else if (flag == "--child-hold-mib") o.child_hold_mib = ParseLong(flag, value());
    else if (flag == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      Usage("unknown flag " + flag);
    }
  }
  return o;
}

int g_signal_pipe[2] = {-1, -1};

void OnSignal(int sig) {
  int saved = errno;
  unsigned char b = static_cast<unsigned char>(sig);
  [[maybe_unused]] ssize_t r = write(g_signal_pipe[1], &b, 1);
  errno = saved;
}

// One write(2) per line, so a line is never interleaved with the grandchild's; EPIPE and EBADF (after
// --close-stdout) are the reader's business, not ours.
void WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

void Say(const std::string& line) { WriteAll(STDOUT_FILENO, line + "\n"); }

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : std::to_string(sig);
}

// Resident and touched: one non-zero byte per page, so neither the zero page nor lazy allocation hides it.
void* HoldMemory(long mib) {
  if (mib <= 0) return nullptr;
  size_t bytes = static_cast<size_t>(mib) << 20;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("calibrated_target: mmap");
    std::exit(3);
  }
  long page = sysconf(_SC_PAGESIZE);
  for (size_t off = 0; off < bytes; off += static_cast<size_t>(page)) static_cast<volatile char*>(p)[off] = 1;
  return p;
}

long VmRssKib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib;
}

void InstallHandlers() {
  if (pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    std::perror("calibrated_target: pipe2");
    std::exit(3);
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

[[noreturn]] void RunGrandchild(long hold_mib) {
  // Only SIGKILL ends it: it stands for a helper that outlives its parent unless the group is killed.
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  close(g_signal_pipe[0]);
  close(g_signal_pipe[1]);
  HoldMemory(hold_mib);
  Say("grandchild " + std::to_string(getpid()) + " ready");
  for (;;) pause();
}

// A helper that leaves the target's process group and session (double fork, setsid), as daemons do: a
// group kill misses it, and its parent exits at once, so it is re-parented to the nearest subreaper.
void ForkDaemon() {
  pid_t middle = fork();
  if (middle < 0) {
    std::perror("calibrated_target: fork");
    std::exit(3);
  }
  if (middle == 0) {
    setsid();
    pid_t daemon = fork();
    if (daemon < 0) _exit(3);
    if (daemon > 0) _exit(0);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    close(g_signal_pipe[0]);
    close(g_signal_pipe[1]);
    Say("daemon " + std::to_string(getpid()) + " ready");
    // Detached like a real daemon: it no longer holds the target's output pipes.
    int null_fd = open("/dev/null", O_RDWR);
    for (int fd = 0; fd <= 2 && null_fd >= 0; ++fd) dup2(null_fd, fd);
    for (;;) pause();
  }
  int status = 0;
  while (waitpid(middle, &status, 0) < 0 && errno == EINTR) {
  }
}

std::vector<pid_t> g_children;

// Returns once every child holds its memory: each writes one byte to a pipe when it does.
void ForkChildren(long count, long hold_mib) {
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) {
    std::perror("calibrated_target: pipe2");
    std::exit(3);
  }
  for (long i = 0; i < count; ++i) {
    pid_t pid = fork();
    if (pid < 0) {
      std::perror("calibrated_target: fork");
      std::exit(3);
    }
    if (pid == 0) {
      // A worker: the default action of SIGTERM and SIGINT ends it; the parent's self-pipe is not its own.
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      close(g_signal_pipe[0]);
      close(g_signal_pipe[1]);
      close(ready[0]);
      HoldMemory(hold_mib);
      unsigned char b = 1;
      [[maybe_unused]] ssize_t w = write(ready[1], &b, 1);
      for (;;) pause();
    }
    g_children.push_back(pid);
  }
  close(ready[1]);
  for (long got = 0; got < count;) {
    unsigned char b;
    ssize_t n = read(ready[0], &b, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::fputs("calibrated_target: a child died before it held its memory\n", stderr);
      std::exit(3);
    }
    ++got;
  }
  close(ready[0]);
}

void StopChildren() {
  for (pid_t pid : g_children) kill(pid, SIGTERM);
  for (pid_t pid : g_children) {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  g_children.clear();
}

// Whole lines of `line` until `bytes` are written (the last one may be cut short).
void Flood(const std::string& line, long bytes) {
  std::string block;
  while (block.size() < 64 * 1024) block += line + "\n";
  long left = bytes;
  while (left > 0) {
    size_t n = std::min<size_t>(block.size(), static_cast<size_t>(left));
    WriteAll(STDOUT_FILENO, block.substr(0, n));
    left -= static_cast<long>(n);
  }
}

int Listen(int port, int* bound_port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 64) != 0) {
    close(fd);
    return -1;
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *bound_port = ntohs(addr.sin_port);
  return fd;
}

void ServeOne(int listen_fd) {
  int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return;
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string request;
  char buf[2048];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 16384) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    request.append(buf, static_cast<size_t>(n));
  }
  bool root = request.rfind("GET / ", 0) == 0;
  std::string body = root ? "OK\n" : "not found\n";
  std::string response = std::string(root ? "HTTP/1.1 200 OK" : "HTTP/1.1 404 Not Found") +
                         "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                         "\r\nConnection: close\r\n\r\n" + body;
  WriteAll(fd, response);
  close(fd);
}

[[noreturn]] void Exit(int code) {
  StopChildren();
  Say("exiting with code " + std::to_string(code));
  std::exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = Parse(argc, argv);
  // Handlers first: an early signal must never hit the default action.
  InstallHandlers();
  Clock::time_point start = Clock::now();

  if (opt.close_stdout) {
    // The pipes end here; /dev/null takes their numbers so no later descriptor (a listener) does.
    const int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    dup2(null_fd, STDOUT_FILENO);
    dup2(null_fd, STDERR_FILENO);
    close(null_fd);
  }
  if (opt.fork_grandchild) {
    pid_t pid = fork();
    if (pid < 0) {
      std::perror("calibrated_target: fork");
      return 3;
    }
    if (pid == 0) RunGrandchild(opt.grandchild_hold_mib);
  }
  if (opt.daemon_grandchild) ForkDaemon();
  if (opt.children > 0) ForkChildren(opt.children, opt.child_hold_mib);
  if (opt.report_rss) Say("rss_before_hold_kib=" + std::to_string(VmRssKib()));
  [[maybe_unused]] void* held = HoldMemory(opt.hold_mib);

  if (opt.flood_bytes > 0) Flood(opt.flood_line, opt.flood_bytes);

  int listen_fd = -1;
  int port = opt.http_port.value_or(0);
  if (opt.http_port) {
    listen_fd = Listen(*opt.http_port, &port);
    if (listen_fd < 0) {
      std::fprintf(stderr, "calibrated_target: cannot listen on 127.0.0.1:%d: %s\n", *opt.http_port,
                   std::strerror(errno));
      return 3;
    }
  }

  std::optional<Clock::time_point> ready_at;
  if (!opt.never_ready) ready_at = start + milliseconds(opt.ready_after_ms);
  std::optional<Clock::time_point> exit_at;
  std::optional<Clock::time_point> next_line_at;
  auto line_period = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(opt.lines_per_second > 0 ? 1.0 / opt.lines_per_second : 0));
  if (opt.lines_per_second > 0) next_line_at = start;
  long line_number = 0;
  bool signalled = false;
  int first_signal = 0;

  for (;;) {
    Clock::time_point now = Clock::now();
    if (ready_at && now >= *ready_at) {
      ready_at.reset();
      if (opt.crash_before_ready) std::abort();
      if (opt.exit_before_ready) Exit(*opt.exit_before_ready);
      // Like a real server it listens once it is ready, so readiness by listening sees the same moment.
      if (listen_fd < 0 && !opt.no_listen) listen_fd = Listen(0, &port);
      Say(opt.ready_line.value_or("Started HTTP listener at http://127.0.0.1:" + std::to_string(port)));
      if (opt.exit_after_ready) Exit(*opt.exit_after_ready);
      if (opt.stop_itself) kill(getpid(), SIGTERM);
    }
    if (exit_at && now >= *exit_at) {
      StopChildren();
      if (opt.crash) std::abort();
      if (opt.die_by_signal) {
        signal(first_signal, SIG_DFL);
        raise(first_signal);
      }
      Exit(opt.exit_code);
    }
    if (next_line_at && now >= *next_line_at) {
      Say("line " + std::to_string(++line_number));
      *next_line_at += line_period;
      if (*next_line_at < now) *next_line_at = now + line_period;  // fell behind: do not burst
    }

    Clock::time_point wake = Clock::time_point::max();
    for (const auto& t : {ready_at, exit_at, next_line_at}) {
      if (t) wake = std::min(wake, *t);
    }
    int timeout_ms = -1;
    if (wake != Clock::time_point::max()) {
      auto left = std::chrono::ceil<milliseconds>(wake - Clock::now()).count();
      timeout_ms = static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
    }
    pollfd fds[2] = {{g_signal_pipe[0], POLLIN, 0}, {listen_fd, POLLIN, 0}};
    int n = poll(fds, listen_fd >= 0 ? 2 : 1, timeout_ms);
    if (n < 0 && errno != EINTR) {
      std::perror("calibrated_target: poll");
      return 3;
    }
    if (n <= 0) continue;
    if (listen_fd >= 0 && (fds[1].revents & POLLIN)) ServeOne(listen_fd);
    if (!(fds[0].revents & POLLIN)) continue;
    unsigned char sigs[64];
    ssize_t got = read(g_signal_pipe[0], sigs, sizeof sigs);
    for (ssize_t i = 0; i < got; ++i) {
      int sig = sigs[i];
      if (opt.ignore_signals) {
        if (!opt.quiet) Say("ignoring " + SignalName(sig));
        continue;
      }
      if (signalled) continue;  // a second signal during shutdown changes nothing
      signalled = true;
      first_signal = sig;
      Say("signal " + SignalName(sig) + " received");
      if (opt.print_after_signal) Say(*opt.print_after_signal);
      if (opt.flood_after_signal > 0) Flood(opt.flood_line, opt.flood_after_signal);
      exit_at = Clock::now() + milliseconds(opt.exit_after_ms);
    }
  }
}
