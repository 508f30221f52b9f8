#include "harness/history/history_store.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <condition_variable>
#include <iterator>
#include <mutex>
#include <thread>

#include "harness/history/postgres_history_store.h"
#include "harness/history/sqlite_history_store.h"

namespace coder::harness {

bool IsPostgresLocation(std::string_view location) {
  return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

std::string DisplayLocation(std::string_view location) {
  if (!IsPostgresLocation(location)) return std::string(location);
  std::string shown(location);
  // postgresql://user:secret@host/db: the password runs from the user's colon to the last '@' of the
  // authority (a password may hold '@' when percent-encoding was skipped).
  const size_t authority = shown.find("://") + 3;
  const size_t end = std::min(shown.find_first_of("/?", authority), shown.size());
  const size_t at = shown.rfind('@', end);
  if (at != std::string::npos && at >= authority) {
    const size_t colon = shown.find(':', authority);
    if (colon != std::string::npos && colon < at) shown.replace(colon + 1, at - colon - 1, "***");
  }
  // ...?password=secret&sslmode=require
  for (size_t p = shown.find("password=", end); p != std::string::npos; p = shown.find("password=", p + 1)) {
    if (shown[p - 1] != '?' && shown[p - 1] != '&') continue;
    const size_t value = p + 9;
    shown.replace(value, std::min(shown.find('&', value), shown.size()) - value, "***");
  }
  return shown;
}

Result<std::unique_ptr<HistoryStore>> HistoryStore::Open(const std::string& location) {
  if (IsPostgresLocation(location)) return OpenPostgresHistoryStore(location);
  return OpenSqliteHistoryStore(location);
}

namespace {

// Feeds a run's fields to SHA-256 in a fixed binary form: each string with its length first and each
// optional with a presence byte, so that no two different records feed the same bytes. Binary, not
// JSON: a report's doubles read back bit for bit, and building the JSON of a record costs ten times
// the hash (bench/history_bench.cc).
class RunHasher {
 public:
  // One digest call over the gathered bytes: a call per RSS sample would cost more than the hash.
  RunHasher() { bytes_.reserve(4096); }

  void Bytes(const void* data, size_t size) { bytes_.append(static_cast<const char*>(data), size); }
  void U64(uint64_t v) { Bytes(&v, sizeof v); }
  void F64(double v) { Bytes(&v, sizeof v); }
  void Bool(bool v) { U64(v ? 1 : 0); }
  void Text(std::string_view text) {
    U64(text.size());
    Bytes(text.data(), text.size());
  }
  void Texts(const std::vector<std::string>& texts) {
    U64(texts.size());
    for (const std::string& t : texts) Text(t);
  }
  void Optional(const std::optional<double>& v) {
    Bool(v.has_value());
    if (v) F64(*v);
  }
  void Optional(const std::optional<int>& v) {
    Bool(v.has_value());
    if (v) U64(static_cast<uint64_t>(static_cast<int64_t>(*v)));
  }
  std::string HexDigest() const {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(bytes_.data(), bytes_.size(), digest, &size, EVP_sha256(), nullptr);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string key(2 * size, '0');
    for (unsigned int i = 0; i < size; ++i) {
      key[2 * i] = kHex[digest[i] >> 4];
      key[2 * i + 1] = kHex[digest[i] & 0xf];
    }
    return key;
  }

 private:
  std::string bytes_;
};

}  // namespace

std::string RunKey(const RunRecord& run) {
  RunHasher h;
  h.Text("coder.history.run/2");  // the key's own version: a change of what is hashed makes a new one
  h.Text(run.variant);
  h.Text(ToString(run.outcome));
  h.Text(run.detail);
  for (const auto* ms :
       {&run.launch_ms, &run.ready_ms, &run.signal_ms, &run.exit_ms, &run.latency_ms, &run.stop_acknowledged_ms})
    h.Optional(*ms);
  h.Text(run.exit);
  h.Optional(run.exit_code);
  h.Optional(run.exit_signal);
  h.Bool(run.watchdog_fired);
  h.Bool(run.ended_by_dump);
  h.U64(static_cast<uint64_t>(run.left_processes));
  h.U64(run.kernel_peak_rss_bytes);
  h.U64(run.tree_peak_rss_bytes);
  h.U64(run.rss_timeline.size());
  for (const RssPoint& point : run.rss_timeline) {
    h.F64(point.t_ms);
    h.U64(point.bytes);
  }
  h.Texts(run.fingerprints);
  h.U64(run.steps.size());
  for (const StepTiming& step : run.steps) {
    h.Text(step.name);
    h.F64(step.ms);
  }
  h.Texts(run.held_slots);
  h.Texts(run.log_tail);
  return h.HexDigest();
}

// The hashing thread publishes how many keys are ready; the caller waits on it.
struct RunKeyPipeline::Shared {
  const std::vector<RunRecord>& runs;
  std::vector<std::string> keys;
  std::mutex mutex;
  std::condition_variable advanced;
  size_t ready = 0;  // guarded by mutex
  std::jthread hasher;
};

RunKeyPipeline::RunKeyPipeline(const std::vector<RunRecord>& runs)
    : shared_(new Shared{.runs = runs, .keys = std::vector<std::string>(runs.size())}) {
  seen_.reserve(runs.size());
  // A small batch costs less than a thread.
  if (runs.size() < 256) {
    for (size_t i = 0; i < runs.size(); ++i) shared_->keys[i] = RunKey(runs[i]);
    shared_->ready = runs.size();
    return;
  }
  shared_->hasher = std::jthread([shared = shared_.get()](std::stop_token stop) {
    constexpr size_t kChunk = 256;  // keys published at once: fewer wake-ups
    for (size_t start = 0; start < shared->runs.size() && !stop.stop_requested(); start += kChunk) {
      const size_t end = std::min(start + kChunk, shared->runs.size());
      for (size_t i = start; i < end; ++i) shared->keys[i] = RunKey(shared->runs[i]);
      {
        std::lock_guard lock(shared->mutex);
        shared->ready = end;
      }
      shared->advanced.notify_one();
    }
  });
}

RunKeyPipeline::~RunKeyPipeline() {
  if (shared_->hasher.joinable()) {
    shared_->hasher.request_stop();
    shared_->hasher.join();
  }
}

std::string RunKeyPipeline::Next() {
  {
    std::unique_lock lock(shared_->mutex);
    shared_->advanced.wait(lock, [&] { return shared_->ready > next_; });
  }
  std::string key = std::move(shared_->keys[next_++]);
  if (const int occurrence = seen_[key]++; occurrence > 0) key += fmt::format("#{}", occurrence);
  return key;
}

std::vector<std::string> BatchRunKeys(const std::vector<RunRecord>& runs) {
  RunKeyPipeline pipeline(runs);
  std::vector<std::string> keys;
  keys.reserve(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) keys.push_back(pipeline.Next());
  return keys;
}

std::string EveryOutcomeSql() {
  std::string sql = " AND r.outcome IN (";
  for (Outcome outcome : kAllOutcomes)
    fmt::format_to(std::back_inserter(sql), "{}'{}'", sql.back() == '(' ? "" : ", ", ToString(outcome));
  return sql + ")";
}

int64_t StoredPeakRss(const RunRecord& run) {
  return static_cast<int64_t>(std::max(run.kernel_peak_rss_bytes, run.tree_peak_rss_bytes));
}

}  // namespace coder::harness
