// The pending-notifications state file a previous run left, with arbitrary bytes: the server either
// loads every notification it holds, or moves the file aside byte for byte; and what it loaded, it
// keeps on Close for the next start (no watcher took it), where it loads again unchanged.
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
#include "server/log.h"
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

/// Records what a manager hands over, without marking it delivered, so it stays pending.
struct Collector final : coder::server::NotificationWatcher {
  std::vector<nlohmann::json> seen;
  void Deliver(const Notification& n, uint64_t) override { seen.push_back(n.ToJson()); }
};

std::vector<nlohmann::json> Load(const fs::path& state, size_t* pending) {
  NotificationsManager manager(state, 1 << 20, QuietLog());
  FUZZ_CHECK(manager.LoadPending().ok(), "LoadPending failed on a readable file");
  auto collector = std::make_shared<Collector>();
  manager.AddWatcher(collector);
  *pending = manager.pending();
  manager.RemoveWatcher(collector.get());
  return collector->seen;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const fs::path state = Dir() / "notifications.json";
  const fs::path aside = Dir() / "notifications.json.corrupt";
  fs::remove(state);
  fs::remove(aside);
  FUZZ_CHECK(coder::WriteFileAtomically(state, bytes, 0600).ok(), "cannot write the state file");

  std::vector<nlohmann::json> loaded;
  {
    NotificationsManager manager(state, 1 << 20, QuietLog());
    FUZZ_CHECK(manager.LoadPending().ok(), "LoadPending failed on a readable file");
    auto collector = std::make_shared<Collector>();
    manager.AddWatcher(collector);
    loaded = collector->seen;
    FUZZ_CHECK(loaded.size() == manager.pending(), "pending and handed over differ");
    manager.RemoveWatcher(collector.get());

    if (fs::exists(aside)) {
      // Unreadable: moved aside with every byte, nothing deleted.
      FUZZ_CHECK(!fs::exists(state), "both the state file and its .corrupt copy exist");
      const auto kept = coder::ReadFile(aside);
      FUZZ_CHECK(kept.ok() && *kept == bytes, "the .corrupt copy differs from the state file");
    } else {
      // Readable: a document with a "pending" array, each of whose entries was loaded.
      FUZZ_CHECK(fs::exists(state), "the state file vanished");
      const auto doc = nlohmann::json::parse(bytes, nullptr, false);
      FUZZ_CHECK(doc.is_object() && doc.contains("pending") && doc["pending"].is_array(), "loaded a non-document");
      FUZZ_CHECK(doc["pending"].size() == loaded.size(), "loaded " + std::to_string(loaded.size()) + " of " +
                                                             std::to_string(doc["pending"].size()));
    }
    // No watcher takes them: Close keeps them all for the next start.
    const auto kept = manager.Close(std::chrono::steady_clock::now());
    FUZZ_CHECK(kept.ok() && *kept == loaded.size(), kept.ok() ? std::to_string(*kept) : kept.error().message);
  }
  FUZZ_CHECK(fs::exists(state) == !loaded.empty(), "the state file does not match what was pending");

  size_t pending = 0;
  const auto reloaded = Load(state, &pending);
  FUZZ_CHECK(reloaded == loaded, "the next start loads other notifications than were kept");
  FUZZ_CHECK(pending == loaded.size(), "pending after reload");
  return 0;
}
