#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace coder::harness {

/// Reads the members of one JSON object of a run record: strict about types (a string where a number
/// belongs is a corrupt record, not a zero) and lenient about presence (a missing key or null keeps
/// the member's default, so records written by an older harness that lacked a field still load). Any
/// wrong type makes ok() false for good. Not thread-safe; `j` must outlive it.
class JsonReader {
 public:
  using json = nlohmann::json;
  explicit JsonReader(const json& j) : j_(j) {}
  bool ok() const { return ok_; }

  const json* Find(const char* key) {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  void String(const char* key, std::string& out) { Take(key, out, &json::is_string); }
  void Bool(const char* key, bool& out) { Take(key, out, &json::is_boolean); }
  void Double(const char* key, double& out) { Take(key, out, &json::is_number); }
  void Double(const char* key, std::optional<double>& out) {
    double v = 0;
    if (Take(key, v, &json::is_number)) out = v;
  }
  void Int(const char* key, int& out) {
    if (const json* v = Find(key)) {
      if (auto i = AsInt(*v)) out = *i;
    }
  }
  void Int(const char* key, std::optional<int>& out) {
    if (const json* v = Find(key)) {
      if (auto i = AsInt(*v)) out = *i;
    }
  }
  void U64(const char* key, uint64_t& out) {
    if (const json* v = Find(key)) {
      if (auto u = AsU64(*v)) out = *u;
    }
  }
  void Strings(const char* key, std::vector<std::string>& out) {
    const json* v = Find(key);
    if (!v) return;
    if (!v->is_array()) return Fail();
    for (const json& e : *v) {
      if (!e.is_string()) return Fail();
      out.push_back(e.get<std::string>());
    }
  }
  /// Reads the array of objects `key`, calling `each(JsonReader&)` on each element's reader; a
  /// non-array, a non-object element or an element whose reader failed fails this one.
  template <class Each>
  void Objects(const char* key, Each each) {
    const json* v = Find(key);
    if (!v) return;
    if (!v->is_array()) return Fail();
    for (const json& e : *v) {
      if (!e.is_object()) return Fail();
      JsonReader inner(e);
      each(inner);
      if (!inner.ok()) return Fail();
    }
  }
  std::optional<int> AsInt(const json& v) {
    if (v.is_number_unsigned() && v.get<uint64_t>() <= uint64_t{std::numeric_limits<int>::max()})
      return static_cast<int>(v.get<uint64_t>());
    if (v.is_number_integer() && !v.is_number_unsigned()) {
      const int64_t i = v.get<int64_t>();
      if (i >= std::numeric_limits<int>::min() && i <= std::numeric_limits<int>::max()) return static_cast<int>(i);
    }
    Fail();
    return std::nullopt;
  }
  std::optional<uint64_t> AsU64(const json& v) {
    if (v.is_number_unsigned()) return v.get<uint64_t>();
    if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
    Fail();
    return std::nullopt;
  }
  void Fail() { ok_ = false; }

 private:
  template <class T>
  bool Take(const char* key, T& out, bool (json::*is_type)() const noexcept) {
    const json* v = Find(key);
    if (!v) return false;
    if (!(v->*is_type)()) {
      Fail();
      return false;
    }
    out = v->get<T>();
    return true;
  }

  const json& j_;
  bool ok_ = true;
};

}  // namespace coder::harness
