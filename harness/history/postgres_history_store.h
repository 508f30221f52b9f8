#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "harness/history/history_store.h"

namespace coder::harness {

/// Opens the PostgreSQL history at `uri` (a libpq connection URI), creating its schema when missing
/// (under an advisory lock, so jobs opening a new database at once do not race). Connects with a
/// `connect_timeout` of 10 s unless the URI or PGCONNECT_TIMEOUT sets one, so a server that is not there
/// is an Error, not a hang. An Error names the URI as DisplayLocation shows it (without its password)
/// and gives libpq's message.
Result<std::unique_ptr<HistoryStore>> OpenPostgresHistoryStore(const std::string& uri);

}  // namespace coder::harness
