// The pending-notifications state file of earlier versions, with arbitrary bytes, imported once at start:
// the server imports every valid notification it holds and removes the file, or (a bad entry, not a
// document) imports the valid ones and moves the file aside byte for byte under a unique name; what it
// imported is in the database, kept on Close for the next start, where it loads again unchanged.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/file_util.h"
#include "fuzz/fuzz_check.h"
#include "server/config_dir.h"
#include "server/log.h"
#include "server/notification_store.h"
#include "server/notifications.h"

namespace {

namespace fs = std::filesystem;
using coder::server::Notification;
using coder::server::NotificationsManager;

coder::server::Logger& QuietLog() {
  static coder::server::Logger log(coder::server::LogFormat::kHuman, ::open("/dev/null", O_WRONLY | O_CLOEXEC));
  return log;
}

// A scratch directory for the whole fuzzing process, on tmpfs when there is one (fsync is free there).
const fs::path& Dir() {
  static const fs::path dir = [] {
    const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path d = base / ("coder-fuzz-state-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

std::unique_ptr<NotificationsManager> Open(const coder::server::ConfigDir& dir) {
  auto store = coder::server::NotificationStore::Open(dir, "state.db", QuietLog());
  FUZZ_CHECK(store.ok(), store.ok() ? "" : store.error().message);
  return std::make_unique<NotificationsManager>(std::move(*store), 1 << 20, QuietLog());
}

std::vector<nlohmann::json> Pending(NotificationsManager& manager) {
  std::vector<nlohmann::json> seen;
  for (const auto& [seq, n] : manager.Backlog(0, UINT64_MAX, SIZE_MAX)) seen.push_back(n.ToJson());
  return seen;
}

std::vector<fs::path> Quarantined() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(Dir()))
    if (e.path().filename().string().rfind("notifications.json.corrupt-", 0) == 0) out.push_back(e.path());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  for (const auto& e : fs::directory_iterator(Dir())) fs::remove_all(e.path());
  const fs::path state = Dir() / "notifications.json";
  FUZZ_CHECK(coder::WriteFileAtomically(state, bytes, 0600).ok(), "cannot write the state file");
  auto dir = coder::server::ConfigDir::Open(Dir());
  FUZZ_CHECK(dir.ok(), dir.ok() ? "" : dir.error().message);

  const auto doc = nlohmann::json::parse(bytes, nullptr, false);
  const bool document = doc.is_object() && doc.contains("pending") && doc["pending"].is_array();
  size_t valid = 0, invalid = 0;
  if (document)
    for (const auto& item : doc["pending"]) (Notification::FromJson(item).ok() ? valid : invalid)++;

  std::vector<nlohmann::json> loaded;
  {
    auto manager = Open(*dir);
    FUZZ_CHECK(manager->LoadPending(&*dir, "notifications.json").ok(), "LoadPending failed on a readable file");
    loaded = Pending(*manager);
    FUZZ_CHECK(loaded.size() == manager->pending(), "pending and handed over differ");
    FUZZ_CHECK(!fs::exists(state), "the old state file is still there after the import");
    FUZZ_CHECK(loaded.size() == valid, "imported " + std::to_string(loaded.size()) + " of " + std::to_string(valid));
    const auto aside = Quarantined();
    if (!document || invalid > 0) {
      // Moved aside with every byte, nothing deleted.
      FUZZ_CHECK(aside.size() == 1, "not moved aside once");
      const auto kept = coder::ReadFile(aside[0]);
      FUZZ_CHECK(kept.ok() && *kept == bytes, "the quarantined copy differs from the state file");
    } else {
      FUZZ_CHECK(aside.empty(), "a good state file was moved aside");
    }
    // No watcher takes them: Close keeps them all for the next start.
    const auto kept = manager->Close(std::chrono::steady_clock::now());
    FUZZ_CHECK(kept.ok() && *kept == loaded.size(), kept.ok() ? std::to_string(*kept) : kept.error().message);
  }
  auto next = Open(*dir);
  FUZZ_CHECK(next->LoadPending(&*dir, "notifications.json").ok(), "LoadPending failed on the reload");
  FUZZ_CHECK(Pending(*next) == loaded, "the next start loads other notifications than were kept");
  return 0;
}
