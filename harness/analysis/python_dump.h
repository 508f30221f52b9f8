#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace coder::harness {

/// One frame as faulthandler prints it: `  File "/srv/app.py", line 30 in stop`.
struct PythonFrame {
  std::string file;  ///< "/srv/app.py", "<frozen importlib._bootstrap>"
  int line = 0;
  std::string function;  ///< "stop", "<module>"
};

/// One thread of a faulthandler dump: "Thread 0x00007f...: (most recent call first):" and its frames,
/// innermost first.
struct PythonThread {
  uint64_t id = 0;       ///< Its pthread id, which `threading.get_ident()` returns too.
  bool current = false;  ///< "Current thread": the one the dump signal ran on.
  bool main = false;     ///< The interpreter's main thread (from the dump's header line).
  std::vector<PythonFrame> frames;
};

/// A faulthandler dump of every thread, after the header line the harness's sitecustomize writes:
/// "# coder-dump python main-thread=0x7f... stdlib=/usr/lib/python3.11".
struct PythonDump {
  std::string stdlib;                 ///< The standard library's directory, from the header; "" when there was none.
  std::vector<PythonThread> threads;  ///< In printed order.
};

/// Parses the last dump of `text` (a file may hold several: each signal appends one); the header
/// line, when present, marks the main thread. Lines it does not know are skipped, never an error.
/// Pure; linear in the text.
PythonDump ParsePythonDump(std::string_view text);

/// Whether `frame` is the interpreter's own code: the standard library (under `stdlib`, or under a
/// "lib/pythonX.Y/" that is not site- or dist-packages when no stdlib is known) or a frozen module.
bool IsStandardLibraryFrame(const PythonFrame& frame, std::string_view stdlib);

/// One sentence of where the threads wait, the main thread first, the others grouped by the program's
/// innermost frame and the standard-library call it is in, most first, e.g. "main thread in
/// threading.join from stop (app.py:30); 1 other thread in worker (app.py:12)". At most `max_groups`
/// groups, the rest counted. Empty when no thread has a frame. Pure.
std::string PythonDumpVerdict(const PythonDump& dump, size_t max_groups = 4);

}  // namespace coder::harness
