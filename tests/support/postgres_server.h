#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "harness/process/child_process.h"
#include "tests/support/temp_dir.h"

namespace coder::test_support {

/// A real PostgreSQL server of the test's own: a cluster initdb makes in a temporary directory (trust
/// authentication, superuser `coder`, locale C, fsync off), served by `postgres` on a free port of
/// 127.0.0.1 with its Unix socket in that directory. The binaries are the newest
/// /usr/lib/postgresql/*/bin (Debian's), else PATH's. As root, initdb and postgres run as `nobody`
/// (initdb refuses root). The server is a ChildProcess of the test: a test process that dies takes it
/// along (its parent-death signal). Not thread-safe, but the stores of several threads may use it at
/// once.
class PostgresServer {
 public:
  /// Starts a server on the calling thread, which must outlive it (the parent-death signal follows the
  /// thread that started it). An Error says why not (no server binaries, initdb failed, never ready,
  /// with their output): a test skips with it.
  static Result<std::unique_ptr<PostgresServer>> Start();

  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  /// Shuts the server down (fast: SIGINT, then its stop plan) and removes its directory. Idempotent.
  void Stop();

  uint16_t port() const { return port_; }
  /// The URI of `database` on this server, as `coder`.
  std::string Uri(std::string_view database) const;

  /// Creates an empty database of a name no other database here holds, and returns the name.
  Result<std::string> CreateDatabase();
  /// Drops `database`, disconnecting whoever is still connected to it.
  Status DropDatabase(const std::string& database);

  /// Runs `sql` on the database of `uri` (a test planting a state a store must refuse, or looking at
  /// what a store wrote): the first column of its first row, empty when it returns no row.
  static Result<std::string> Query(const std::string& uri, const std::string& sql);

 private:
  explicit PostgresServer(TempDir dir) : dir_(std::move(dir)) {}

  TempDir dir_;
  std::unique_ptr<harness::ChildProcess> postgres_;
  uint16_t port_ = 0;
  int databases_ = 0;
};

/// A suite's PostgreSQL: one server, started by the first test that asks for a database (so a suite's
/// tests of another backend never pay for initdb), and a fresh database for each test. Not thread-safe:
/// a fixture's SetUp, TearDown and TearDownTestSuite call it.
class PostgresSuiteDatabase {
 public:
  /// A fresh database's URI, or why there is no server (the test skips with it). Remembers the
  /// database for Drop.
  Result<std::string> Fresh();
  /// Drops the database Fresh made last. Idempotent.
  Status Drop();
  /// Stops the server; the next Fresh starts one again.
  void StopServer();
  /// Why no server could start (then a test skips rather than fails); empty while one runs or none was
  /// tried.
  const std::string& why_unavailable() const { return why_; }

 private:
  std::unique_ptr<PostgresServer> server_;
  std::string why_;  // why the server could not start: not tried again within the suite
  std::string database_;
};

}  // namespace coder::test_support
