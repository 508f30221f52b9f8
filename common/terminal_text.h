#pragma once

#include <string>
#include <string_view>

namespace coder {

/// `text` (a target's output, or anything derived from it) made safe to write to a terminal: bytes that
/// are not UTF-8 become U+FFFD, and every control character that a terminal could act on is written
/// out visibly instead: C0 controls and DEL as `\xNN` ("\x1b[2J" stays readable and clears nothing),
/// C1 controls (U+0080-U+009F, which some terminals take as CSI and OSC) as `\u0085`. A tab is kept,
/// as is a newline when `keep_newlines` (multi-line text such as stacks); a carriage return never is
/// (it would let a line overwrite what came before it). Pure function; thread-safe.
std::string TerminalSafe(std::string_view text, bool keep_newlines = false);

/// `text` as valid UTF-8: each byte that does not start a well-formed sequence becomes U+FFFD. Pure.
std::string ValidUtf8(std::string_view text);

}  // namespace coder
