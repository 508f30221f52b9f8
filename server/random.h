#pragma once

#include <cstddef>
#include <string>

namespace coder::server {

/// `bytes` bytes from the kernel's CSPRNG (getrandom), as lower-case hex. Thread-safe. Aborts if the
/// kernel cannot supply randomness, which only happens on a broken system.
std::string RandomHex(size_t bytes);

/// A version 4 UUID in its usual text form.
std::string RandomUuid();

/// Compares in time that depends only on the lengths, so a token check leaks nothing through timing.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

}  // namespace coder::server
