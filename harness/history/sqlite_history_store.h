#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "harness/history/history_store.h"

namespace coder::harness {

/// Opens the SQLite history at `path` (created with its schema when missing): WAL, a busy timeout, FULL
/// sync, planted symlinks not followed (docs/history.md).
Result<std::unique_ptr<HistoryStore>> OpenSqliteHistoryStore(const std::string& path);

}  // namespace coder::harness
