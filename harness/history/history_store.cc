#include "harness/history/history_store.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <exception>
#include <iterator>
#include <mutex>
#include <thread>

#include "harness/history/postgres_history_store.h"
#include "harness/history/sqlite_history_store.h"

namespace coder::harness {

namespace {

std::string Lower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

// `text` with its %XX escapes decoded, as libpq decodes a URI's parameter names.
std::string PercentDecoded(std::string_view text) {
  std::string decoded;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      decoded += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      decoded += text[i];
    }
  }
  return decoded;
}

struct Span {
  size_t at, size;
};

// Where `location` holds a password: the `user:secret@` of anything shaped like a URI (any scheme, any
// case: a typo must not print it either), and the value of every `KEY=value` whose key, decoded and in
// any case, holds "password" (password, sslpassword), in a URI's query or a keyword/value string
// ("host=h password=p"). In order, not overlapping.
std::vector<Span> PasswordSpans(std::string_view location) {
  std::vector<Span> spans;
  if (const size_t scheme = location.find("://"); scheme != std::string_view::npos) {
    const size_t authority = scheme + 3;
    // From the user's ':' to the location's last '@': a password left unescaped may hold '@', '/', '?'
    // or '#', which libpq then misreads. Hiding a port and a path with it when a query holds an '@' is
    // the price of never showing such a password.
    if (const size_t at = location.rfind('@'); at != std::string_view::npos && at >= authority) {
      if (const size_t colon = location.find(':', authority); colon < at) spans.push_back({colon + 1, at - colon - 1});
    }
  }
  for (size_t equals = location.find('='); equals != std::string_view::npos; equals = location.find('=', equals + 1)) {
    const size_t key = location.find_last_of("?& \t", equals);
    const size_t key_start = key == std::string_view::npos ? 0 : key + 1;
    if (Lower(PercentDecoded(location.substr(key_start, equals - key_start))).find("password") == std::string::npos)
      continue;
    const size_t value = equals + 1;
    size_t end = std::min(location.find_first_of("& \t", value), location.size());
    // A keyword/value string quotes a value with spaces: 'pass word'.
    if (value < location.size() && location[value] == '\'') {
      const size_t close = location.find('\'', value + 1);
      end = close == std::string_view::npos ? location.size() : close + 1;
    }
    if (!spans.empty() && value < spans.back().at + spans.back().size) continue;
    spans.push_back({value, end - value});
  }
  return spans;
}

}  // namespace

Status AcceptSchemaVersion(int64_t version, std::string_view shown) {
  if (version == 0 || version == kHistorySchemaVersion) return Ok{};
  if (version > kHistorySchemaVersion)
    return Error{fmt::format("history {} has schema version {}; this coder reads version {}", shown, version,
                             kHistorySchemaVersion)};
  return Error{
      fmt::format("history {} has schema version {}, of an earlier coder whose run keys differ; this coder "
                  "reads version {}: start a new history and ingest the reports into it",
                  shown, version, kHistorySchemaVersion)};
}

std::pair<std::string, std::string> CommitPrefixRange(std::string_view prefix) {
  std::string low = Lower(prefix);
  std::string high = low + "\x7f";
  return {std::move(low), std::move(high)};
}

bool IsPostgresLocation(std::string_view location) {
  const std::string lower = Lower(location.substr(0, 13));
  return lower.starts_with("postgresql://") || lower.starts_with("postgres://");
}

std::vector<std::string> LocationPasswords(std::string_view location) {
  std::vector<std::string> passwords;
  for (const Span& span : PasswordSpans(location))
    if (span.size > 0) passwords.emplace_back(location.substr(span.at, span.size));
  return passwords;
}

std::string DisplayLocation(std::string_view location) {
  std::string shown(location);
  const std::vector<Span> spans = PasswordSpans(location);
  for (auto span = spans.rbegin(); span != spans.rend(); ++span) shown.replace(span->at, span->size, "***");
  return shown;
}

std::string WithoutPasswords(std::string message, std::string_view location) {
  auto hide = [&message](std::string_view secret) {
    if (secret.empty()) return;
    for (size_t at = message.find(secret); at != std::string::npos; at = message.find(secret, at + 3))
      message.replace(at, secret.size(), "***");
  };
  for (const std::string& password : LocationPasswords(location)) {
    hide(password);
    // libpq, misreading a password with '@', ':' or '/', quotes its pieces as a host or a port.
    for (size_t start = 0; start < password.size();) {
      const size_t end = std::min(password.find_first_of("@:/", start), password.size());
      if (end - start >= 2) hide(std::string_view(password).substr(start, end - start));
      start = end + 1;
    }
  }
  return message;
}

Result<std::unique_ptr<HistoryStore>> HistoryStore::Open(const std::string& location) {
  if (IsPostgresLocation(location)) return OpenPostgresHistoryStore(location);
  return OpenSqliteHistoryStore(location);
}

namespace {

// Feeds a run's fields to SHA-256 in a fixed binary form: each string with its length first and each
// optional with a presence byte, so that no two different records feed the same bytes. Binary, not
// JSON: a report's doubles read back bit for bit, and the key of a record of the built-in matrix (5.6 KiB
// on average) took 71.7 µs through its JSON against 4.7 µs so (measured once, on 100 000 records).
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
  size_t ready = 0;            // guarded by mutex
  std::exception_ptr failure;  // guarded by mutex: what the hasher threw (bad_alloc), for Next to rethrow
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
    try {
      for (size_t start = 0; start < shared->runs.size() && !stop.stop_requested(); start += kChunk) {
        const size_t end = std::min(start + kChunk, shared->runs.size());
        for (size_t i = start; i < end; ++i) shared->keys[i] = RunKey(shared->runs[i]);
        {
          std::lock_guard lock(shared->mutex);
          shared->ready = end;
        }
        shared->advanced.notify_one();
      }
    } catch (...) {
      // Thrown out of a thread's function it would end the process: the caller's Next rethrows it.
      {
        std::lock_guard lock(shared->mutex);
        shared->failure = std::current_exception();
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
    shared_->advanced.wait(lock, [&] { return shared_->ready > next_ || shared_->failure; });
    if (shared_->ready <= next_) std::rethrow_exception(shared_->failure);
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
