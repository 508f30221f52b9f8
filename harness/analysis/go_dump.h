#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace coder::harness {

/// One frame of a goroutine's stack as the Go runtime prints it: "main.(*API).Close(0xc000016060)"
/// over "\t/src/main.go:36 +0xd8 ...".
struct GoFrame {
  std::string function;  ///< "main.(*API).Close", arguments dropped.
  std::string file;      ///< "/src/main.go".
  int line = 0;
};

/// One goroutine of a traceback: "goroutine 18 [semacquire, 3 minutes]:" and its frames, innermost first.
struct Goroutine {
  long id = 0;
  std::string state;      ///< "semacquire", "select", "IO wait", "chan receive" ...
  long wait_minutes = 0;  ///< From ", N minutes"; 0 when the runtime printed none (under a minute).
  bool locked_to_thread = false;
  std::vector<GoFrame> frames;
  GoFrame created_by;  ///< Empty function for goroutine 1 and the runtime's own.
};

/// A goroutine traceback, as SIGQUIT (or a panic) prints it on standard error.
struct GoDump {
  std::vector<Goroutine> goroutines;  ///< In printed order; goroutine 0 (the signal's M) left out.
  size_t skipped_lines = 0;           ///< Lines that were neither a header nor a frame (registers, ...).
};

/// Parses the goroutine blocks of `text`; whatever else it holds (the "SIGQUIT: quit" banner, the
/// registers, a half-written last block of a cut dump) is skipped, never an error. Pure; linear in
/// the text.
GoDump ParseGoDump(std::string_view text);

/// True for a goroutine the runtime or os/signal runs for itself (the GC workers, the finalizer, the
/// signal loop): all its frames are the runtime's, or the runtime or os/signal created it.
bool IsRuntimeGoroutine(const Goroutine& g);

/// Where a goroutine waits: its first frame outside the runtime (sync.(*WaitGroup).Wait rather than
/// runtime.semacquire1, since "sync.runtime_Semacquire" is the runtime's too). Null when every frame is.
const GoFrame* WaitingFrame(const Goroutine& g);

/// The innermost frame of the program's own code: package main or an import path with a domain
/// ("github.com/..."), the Go convention that keeps the standard library apart. Null when none is.
const GoFrame* OwnCodeFrame(const Goroutine& g);

/// One sentence of where the goroutines wait, the main goroutine first, then the others grouped by
/// state, waiting frame and (when the program's code started them) creator: those waiting on a lock or
/// wait group first, then on channels, then the rest, each rank most first, e.g. "main goroutine [select] in
/// main.(*API).Close (main.go:36); 1 goroutine [semacquire] in sync.(*WaitGroup).Wait from main.(*API).Close.func1
/// (main.go:33)". At most `max_groups` groups, the rest counted. Empty when there is no goroutine of the program. Pure.
std::string GoDumpVerdict(const GoDump& dump, size_t max_groups = 4);

}  // namespace coder::harness
