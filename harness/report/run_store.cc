#include "harness/report/run_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "common/json_dump.h"

namespace coder::harness {

Status InMemoryRuns::ForEach(const std::function<Status(const RunRecord&)>& fn) const {
  for (const RunRecord& r : runs_)
    if (auto ok = fn(r); !ok) return ok;
  return Ok{};
}

Result<RunRecord> InMemoryRuns::Find(const std::string& variant, int index) const {
  for (const RunRecord& r : runs_)
    if (r.variant == variant && r.index == index) return r;
  return Error{fmt::format("no run #{} of {} in the report", index, variant)};
}

Result<std::unique_ptr<RunStore>> RunStore::Open(const std::filesystem::path& dir,
                                                 std::vector<std::string> variant_order, size_t memory_budget_bytes) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    // A file system without O_TMPFILE: a private name, unlinked at once, is the same file.
    std::string name = (dir / "coder-diag-runs-XXXXXX").string();
    fd = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd >= 0) ::unlink(name.c_str());
  }
  if (fd < 0) return Error{fmt::format("cannot keep the run records in {}: {}", dir.string(), std::strerror(errno))};
  return std::unique_ptr<RunStore>(new RunStore(fd, std::move(variant_order), memory_budget_bytes));
}

RunStore::~RunStore() { ::close(fd_); }

uint32_t RunStore::VariantPosition(const std::string& name) const {
  const auto it = std::find(variant_order_.begin(), variant_order_.end(), name);
  return static_cast<uint32_t>(it - variant_order_.begin());
}

namespace {

/// What a record holds in memory, roughly: its text and its vectors, which is what grows.
size_t ApproxBytes(const RunRecord& r) {
  size_t n = sizeof(RunRecord) + r.variant.size() + r.detail.size() + r.exit.size();
  for (const auto* strings : {&r.fingerprints, &r.held_slots, &r.log_tail})
    for (const std::string& s : *strings) n += sizeof(std::string) + s.size();
  for (const StepTiming& s : r.steps) n += sizeof(StepTiming) + s.name.size();
  n += r.rss_timeline.size() * sizeof(RssPoint);
  if (r.log)
    for (const LogLine& l : r.log->lines) n += sizeof(LogLine) + l.text.size();
  for (const ProcessStacks& p : r.stacks) n += sizeof(ProcessStacks) + p.tool.size() + p.text.size() + p.error.size();
  if (r.hang) {
    n += sizeof(HangSnapshot) + r.hang->verdict.size();
    for (const OpenSocket& s : r.hang->sockets)
      n += sizeof(OpenSocket) + s.local.size() + s.remote.size() + s.state.size() + s.held_by.size();
    for (const ProcessThreads& p : r.hang->processes)
      n += sizeof(ProcessThreads) + p.threads.size() * sizeof(ThreadState);
  }
  return n;
}

}  // namespace

Status RunStore::Add(const RunRecord& run) {
  const size_t bytes = ApproxBytes(run);
  {
    std::lock_guard lock(mu_);
    if (held_bytes_ + bytes <= memory_budget_ && held_.size() < kInTheFile) {
      entries_.push_back({VariantPosition(run.variant), run.index, 0, 0, static_cast<uint32_t>(held_.size())});
      held_.push_back(run);
      held_bytes_ += bytes;
      sorted_ = false;
      return Ok{};
    }
  }
  std::string line = DumpJson(run.ToJson());
  if (line.size() > std::numeric_limits<uint32_t>::max())
    return Error{fmt::format("run #{} of {} is too large to keep ({} bytes)", run.index, run.variant, line.size())};
  const auto length = static_cast<uint32_t>(line.size());
  line += '\n';
  std::lock_guard lock(mu_);
  // pwrite at our own end, so a short write on a full disk leaves nothing the index points into.
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::pwrite(fd_, line.data() + done, line.size() - done, static_cast<off_t>(end_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return Error{fmt::format("keeping run #{} of {}: {}", run.index, run.variant,
                               n < 0 ? std::strerror(errno) : "no space written")};
    done += static_cast<size_t>(n);
  }
  entries_.push_back({VariantPosition(run.variant), run.index, end_, length});
  end_ += line.size();
  sorted_ = false;
  return Ok{};
}

size_t RunStore::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

uint64_t RunStore::file_bytes() const {
  std::lock_guard lock(mu_);
  return end_;
}

size_t RunStore::held_runs() const {
  std::lock_guard lock(mu_);
  return held_.size();
}

const std::vector<RunStore::Entry>& RunStore::Sorted() const {
  std::lock_guard lock(mu_);
  if (!sorted_) {
    // Stable: two runs with the same variant and index (which the runner never makes) keep arrival order.
    std::stable_sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
      return a.variant != b.variant ? a.variant < b.variant : a.index < b.index;
    });
    sorted_ = true;
  }
  return entries_;
}

Result<RunRecord> RunStore::Read(const Entry& e) const {
  if (e.held != kInTheFile) return held_[e.held];
  std::string text(e.length, '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::pread(fd_, text.data() + done, text.size() - done, static_cast<off_t>(e.offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return Error{fmt::format("reading a kept run record back: {}", n < 0 ? std::strerror(errno) : "cut short")};
    done += static_cast<size_t>(n);
  }
  const auto json = nlohmann::json::parse(text, nullptr, false);
  auto record = RunRecord::FromJson(json);
  if (!record) return Error{"a kept run record does not read back"};
  return std::move(*record);
}

Status RunStore::ForEach(const std::function<Status(const RunRecord&)>& fn) const {
  for (const Entry& e : Sorted()) {
    if (e.held != kInTheFile) {
      if (auto ok = fn(held_[e.held]); !ok) return ok;
      continue;
    }
    auto record = Read(e);
    if (!record) return record.error();
    if (auto ok = fn(*record); !ok) return ok;
  }
  return Ok{};
}

Result<RunRecord> RunStore::Find(const std::string& variant, int index) const {
  const uint32_t position = VariantPosition(variant);
  const auto& sorted = Sorted();
  const auto it = std::lower_bound(sorted.begin(), sorted.end(), std::pair{position, index},
                                   [](const Entry& e, const std::pair<uint32_t, int>& key) {
                                     return e.variant != key.first ? e.variant < key.first : e.index < key.second;
                                   });
  if (it == sorted.end() || it->variant != position || it->index != index)
    return Error{fmt::format("no run #{} of {} in the report", index, variant)};
  return Read(*it);
}

}  // namespace coder::harness
