#include "tests/support/postgres_server.h"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <utility>
#include <vector>

#include "tests/support/loopback.h"
#include "tests/support/wait.h"

namespace coder::test_support {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::string_view kReadyLine = "database system is ready to accept connections";
constexpr int kPortTries = 5;

bool HasServer(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "initdb", ec) && fs::is_regular_file(dir / "postgres", ec);
}

// Debian installs each major version's server in /usr/lib/postgresql/<major>/bin, outside PATH.
std::optional<fs::path> ServerBinDir() {
  std::optional<fs::path> newest;
  int newest_major = -1;
  std::error_code ec;
  for (fs::directory_iterator it("/usr/lib/postgresql", ec), end; !ec && it != end; it.increment(ec)) {
    const int major = std::atoi(it->path().filename().c_str());
    if (major > newest_major && HasServer(it->path() / "bin")) {
      newest = it->path() / "bin";
      newest_major = major;
    }
  }
  if (newest) return newest;
  const char* path = std::getenv("PATH");
  for (std::string_view dirs = path ? path : ""; !dirs.empty();) {
    const size_t colon = std::min(dirs.find(':'), dirs.size());
    const fs::path dir(dirs.substr(0, colon));
    dirs.remove_prefix(std::min(colon + 1, dirs.size()));
    if (!dir.empty() && HasServer(dir)) return dir;
  }
  return std::nullopt;
}

// Who initdb and postgres run as: this process's user, or `nobody` for root, whom initdb refuses.
struct Account {
  bool switched = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<std::string> argv_prefix;  // what runs a program as this account
};

Result<Account> ServerAccount() {
  Account account;
  if (::geteuid() != 0) return account;
  const passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr) return Error{"running as root, and there is no user nobody to run initdb as"};
  account.switched = true;
  account.uid = nobody->pw_uid;
  account.gid = nobody->pw_gid;
  // A change of user clears the parent-death signal, which takes the server along when the test dies:
  // setpriv sets it again.
  account.argv_prefix = {"setpriv",
                         fmt::format("--reuid={}", account.uid),
                         fmt::format("--regid={}", account.gid),
                         "--clear-groups",
                         "--pdeathsig",
                         "keep"};
  return account;
}

// initdb wants its data directory private to the server's account.
Status MakePrivateDir(const fs::path& dir, const Account& account) {
  if (::mkdir(dir.c_str(), 0700) != 0) return Error{fmt::format("mkdir {}: {}", dir.string(), std::strerror(errno))};
  if (account.switched && ::chown(dir.c_str(), account.uid, account.gid) != 0)
    return Error{fmt::format("chown {}: {}", dir.string(), std::strerror(errno))};
  return Ok{};
}

harness::LaunchSpec SpecAs(const Account& account, std::vector<std::string> argv, const fs::path& working_dir) {
  harness::LaunchSpec spec;
  spec.argv = account.argv_prefix;
  spec.argv.insert(spec.argv.end(), argv.begin(), argv.end());
  // The account's own directory: root's working directory may be closed to `nobody`.
  spec.working_dir = working_dir;
  return spec;
}

Status RunTool(const Account& account, std::vector<std::string> argv, const fs::path& working_dir) {
  const std::string name = fs::path(argv[0]).filename().string();
  auto child = harness::ChildProcess::Start(SpecAs(account, std::move(argv), working_dir));
  if (!child) return child.error();
  const auto exit = (*child)->WaitUntil(In(120s));
  if (exit && exit->Describe() == "exit 0") return Ok{};
  return Error{fmt::format("{} ended {}: {}", name, exit ? exit->Describe() : "not within 120 s", (*child)->Output())};
}

Result<uint16_t> FreePort() {
  uint16_t port = 0;
  const int fd = ListenOnLoopback(AF_INET, port);
  if (fd < 0) return Error{fmt::format("no free port on 127.0.0.1: {}", std::strerror(errno))};
  ::close(fd);
  return port;
}

// postgres on `port`, once ready; null when another process took the port between FreePort and the
// bind (the caller tries another).
Result<std::unique_ptr<harness::ChildProcess>> Serve(const Account& account, const fs::path& bin, const fs::path& data,
                                                     const fs::path& socket, uint16_t port) {
  auto child = harness::ChildProcess::Start(
      SpecAs(account,
             {(bin / "postgres").string(), "-D", data.string(), "-p", std::to_string(port), "-k", socket.string(), "-c",
              "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "lc_messages=C"},
             data.parent_path()));
  if (!child) return child.error();
  const bool ready = (*child)->WaitForLine(
      [](const harness::OutputLine& line) { return line.text.find(kReadyLine) != std::string::npos; }, In(60s));
  if (ready) return std::move(*child);
  (*child)->Stop();
  const std::string output = (*child)->Output();
  if (output.find("Address already in use") != std::string::npos) return std::unique_ptr<harness::ChildProcess>();
  return Error{"postgres never became ready: " + output};
}

}  // namespace

Result<std::unique_ptr<PostgresServer>> PostgresServer::Start() {
  const auto bin = ServerBinDir();
  if (!bin)
    return Error{
        "no PostgreSQL server: no initdb and postgres in /usr/lib/postgresql/*/bin or PATH (Debian: "
        "apt-get install postgresql)"};
  auto account = ServerAccount();
  if (!account) return account.error();
  // As root, under /tmp rather than $TMPDIR, whose parents `nobody` may not be let into; and the
  // directory itself opened to it (mkdtemp makes it 0700).
  auto dir = TempDir::Create("postgres", account->switched ? fs::path("/tmp") : fs::path());
  if (!dir) return dir.error();
  if (account->switched && ::chmod(dir->path().c_str(), 0755) != 0)
    return Error{fmt::format("chmod {}: {}", dir->path().string(), std::strerror(errno))};
  std::unique_ptr<PostgresServer> server(new PostgresServer(std::move(*dir)));
  const fs::path data = server->dir_.path() / "data", socket = server->dir_.path() / "socket";
  for (const fs::path& made : {data, socket}) {
    if (auto st = MakePrivateDir(made, *account); !st) return st.error();
  }
  if (auto st = RunTool(*account,
                        {(*bin / "initdb").string(), "-D", data.string(), "--auth=trust", "-U", "coder", "--no-sync",
                         "--encoding=UTF8", "--locale=C"},
                        server->dir_.path());
      !st)
    return Error{"initdb failed: " + st.error().message};
  for (int attempt = 0; attempt < kPortTries; ++attempt) {
    auto port = FreePort();
    if (!port) return port.error();
    auto postgres = Serve(*account, *bin, data, socket, *port);
    if (!postgres) return postgres.error();
    if (*postgres == nullptr) continue;
    server->postgres_ = std::move(*postgres);
    server->port_ = *port;
    return server;
  }
  return Error{fmt::format("postgres found each of the {} free ports it was given taken", kPortTries)};
}

PostgresServer::~PostgresServer() { Stop(); }

void PostgresServer::Stop() {
  if (postgres_) {
    // SIGINT is PostgreSQL's fast shutdown: it disconnects the clients and ends at once.
    if (postgres_->Signal(SIGINT).ok()) static_cast<void>(postgres_->WaitUntil(In(30s)));
    postgres_.reset();  // its stop plan, for a server that did not go
  }
  dir_.Remove();
}

std::string PostgresServer::Uri(std::string_view database) const {
  return fmt::format("postgresql://coder@127.0.0.1:{}/{}", port_, database);
}

Result<std::string> PostgresServer::CreateDatabase() {
  std::string name = fmt::format("coder_test_{}", ++databases_);
  if (auto made = Query(Uri("postgres"), "CREATE DATABASE " + name); !made) return made.error();
  return name;
}

Status PostgresServer::DropDatabase(const std::string& database) {
  auto dropped = Query(Uri("postgres"), "DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
  if (!dropped) return dropped.error();
  return Ok{};
}

Result<std::string> PostgresServer::Query(const std::string& uri, const std::string& sql) {
  PGconn* conn = PQconnectdb(uri.c_str());
  Result<std::string> value = std::string();
  if (PQstatus(conn) != CONNECTION_OK) {
    value = Error{fmt::format("cannot connect to {}: {}", uri, PQerrorMessage(conn))};
  } else {
    // A notice (DROP ... IF EXISTS of nothing) is not the test's output.
    PQsetNoticeProcessor(
        conn, [](void*, const char*) {}, nullptr);
    PGresult* result = PQexec(conn, sql.c_str());
    const ExecStatusType done = PQresultStatus(result);
    if (done != PGRES_COMMAND_OK && done != PGRES_TUPLES_OK)
      value = Error{fmt::format("{}: {}", sql, PQresultErrorMessage(result))};
    else if (PQntuples(result) > 0 && PQnfields(result) > 0) value = std::string(PQgetvalue(result, 0, 0));
    PQclear(result);
  }
  PQfinish(conn);
  return value;
}

Result<std::string> PostgresSuiteDatabase::Fresh() {
  if (!server_ && why_.empty()) {
    auto started = PostgresServer::Start();
    if (started) server_ = std::move(*started);
    else why_ = started.error().message;
  }
  if (!server_) return Error{"no PostgreSQL server to test against: " + why_};
  auto name = server_->CreateDatabase();
  if (!name) return name.error();
  database_ = *name;
  return server_->Uri(database_);
}

Status PostgresSuiteDatabase::Drop() {
  if (database_.empty() || !server_) return Ok{};
  const std::string database = std::exchange(database_, "");
  return server_->DropDatabase(database);
}

void PostgresSuiteDatabase::StopServer() {
  server_.reset();
  why_.clear();
  database_.clear();
}

}  // namespace coder::test_support
