#pragma once

#include <string>
#include <utility>
#include <variant>

namespace coder {

/// A recoverable error: a message meant for a human, already specific enough to act on.
struct Error {
  std::string message;
};

/// A value or an Error, for failures the caller is expected to handle (bad input, a busy port).
/// Programming errors still assert or throw. Cheap to move; not thread-safe (a plain value type).
template <class T>
class [[nodiscard]] Result {
 public:
  // The alternative is named, not left to std::variant's converting constructor, whose choice among
  // aggregate types went wrong under g++ 12 with sanitizers (an Error stored as a garbage T).
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit, like std::expected
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

/// Result for operations that produce nothing but may fail.
struct Ok {};
using Status = Result<Ok>;

}  // namespace coder
