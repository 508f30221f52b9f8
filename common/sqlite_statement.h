#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace coder {

/// One prepared SQLite statement, finalized however the scope is left. Binds are 1-based, as in SQLite;
/// text is copied at Bind. Header-only: a target that includes it links SQLite::SQLite3 (the server's
/// notification store and the harness's history do). Not thread-safe, like the connection it uses.
class SqliteStatement {
 public:
  SqliteStatement(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~SqliteStatement() { sqlite3_finalize(stmt_); }
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  int prepare_rc() const { return rc_; }
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() const { return stmt_; }

  void Bind(int i, std::string_view text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, int64_t value) { sqlite3_bind_int64(stmt_, i, value); }
  void Bind(int i, std::optional<double> value) {
    if (value) sqlite3_bind_double(stmt_, i, *value);
    else sqlite3_bind_null(stmt_, i);
  }
  int Step() { return sqlite3_step(stmt_); }
  /// Ready to run again, its binds cleared.
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  int64_t Int(int column) { return sqlite3_column_int64(stmt_, column); }
  /// The column's text whole, a NUL inside it included.
  std::string Text(int column) {
    const auto* text = sqlite3_column_text(stmt_, column);
    if (text == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_OK;
};

}  // namespace coder
