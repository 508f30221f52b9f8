#include "harness/measure/rss_sampler.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <deque>
#include <optional>
#include <set>
#include <string>

#include "harness/process/proc_fs.h"
#include "harness/process/subreaper.h"

namespace coder::harness {

using Clock = std::chrono::steady_clock;

namespace {

const uint64_t kPageBytes = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));

// One process of a target's tree, pinned by its open statm descriptor.
class TrackedProcess {
 public:
  explicit TrackedProcess(pid_t pid) : pid_(pid) {
    statm_fd_ = open(("/proc/" + std::to_string(pid) + "/statm").c_str(), O_RDONLY | O_CLOEXEC);
  }
  TrackedProcess(const TrackedProcess&) = delete;
  TrackedProcess& operator=(const TrackedProcess&) = delete;
  ~TrackedProcess() {
    if (statm_fd_ >= 0) close(statm_fd_);
  }

  bool opened() const { return statm_fd_ >= 0; }
  pid_t pid() const { return pid_; }

  /// Resident bytes; nullopt once the process is gone or a zombie (it has no memory left).
  std::optional<uint64_t> ResidentBytes() const {
    char buf[128];
    ssize_t n = pread(statm_fd_, buf, sizeof buf - 1, 0);
    if (n <= 0) return std::nullopt;
    buf[n] = '\0';
    unsigned long long size = 0, resident = 0;
    if (std::sscanf(buf, "%llu %llu", &size, &resident) != 2 || size == 0) return std::nullopt;
    return resident * kPageBytes;
  }

 private:
  pid_t pid_;
  int statm_fd_ = -1;
};

}  // namespace

struct RssSampler::Target {
  pid_t root = 0;
  bool leads_group = false;
  std::map<pid_t, std::unique_ptr<TrackedProcess>> procs;
  std::vector<RssSample> samples;
  size_t stride = 1;
  size_t pending_count = 0;
  std::optional<RssSample> pending;  // the largest of the current stride's ticks
  bool ended = false;
  Clock::time_point last_discovery{};

  bool Track(pid_t pid) {
    if (procs.count(pid)) return false;
    auto p = std::make_unique<TrackedProcess>(pid);
    if (!p->opened()) return false;
    procs.emplace(pid, std::move(p));
    return true;
  }

  void Discover() {
    std::deque<pid_t> queue;
    for (const auto& [pid, p] : procs) queue.push_back(pid);
    while (!queue.empty()) {
      pid_t pid = queue.front();
      queue.pop_front();
      for (pid_t child : ReadChildren(pid)) {
        if (Track(child)) queue.push_back(child);
      }
    }
  }

  void Record(const RssSample& s, size_t cap) {
    if (!pending || s.tree_rss_bytes > pending->tree_rss_bytes) pending = s;
    if (++pending_count < stride) return;
    samples.push_back(*pending);
    pending.reset();
    pending_count = 0;
    if (samples.size() < std::max<size_t>(cap, 2)) return;
    std::vector<RssSample> merged;
    merged.reserve(samples.size() / 2 + 1);
    for (size_t i = 0; i < samples.size(); i += 2) {
      bool pair = i + 1 < samples.size();
      merged.push_back(pair && samples[i + 1].tree_rss_bytes > samples[i].tree_rss_bytes ? samples[i + 1] : samples[i]);
    }
    samples = std::move(merged);
    stride *= 2;
  }

  void End(Clock::time_point now) {
    if (pending) samples.push_back(*pending);
    pending.reset();
    samples.push_back(RssSample{now, 0, 0});
    procs.clear();
    ended = true;
  }

  std::vector<RssSample> Snapshot() const {
    std::vector<RssSample> out = samples;
    if (pending) out.push_back(*pending);
    return out;
  }
};

RssSampler::RssSampler(RssSamplerOptions options) : options_(options) {}

RssSampler::~RssSampler() { Stop(); }

void RssSampler::Start() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_requested_ = false;
  }
  thread_ = std::thread([this] { Run(); });
}

void RssSampler::Stop() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_requested_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Status RssSampler::Add(pid_t pid) {
  std::lock_guard lock(mu_);
  if (targets_.count(pid)) return Ok{};
  auto stat = ReadProcStat(pid);
  if (!stat || stat->dead()) return Error{"cannot sample process " + std::to_string(pid) + ": not running"};
  auto target = std::make_unique<Target>();
  target->root = pid;
  target->leads_group = stat->pgrp == pid;
  if (!target->Track(pid)) return Error{"cannot sample process " + std::to_string(pid) + ": not running"};
  auto& added = *targets_.emplace(pid, std::move(target)).first->second;
  // The first sample at once, not an interval later. A target that has already exited is left for the
  // sampling thread to end: a run that adds it is about to reap its leader, after which ending it needs
  // no scan of /proc.
  SampleTarget(added, Clock::now(), /*may_end=*/false);
  return Ok{};
}

std::vector<RssSample> RssSampler::Remove(pid_t pid) {
  std::lock_guard lock(mu_);
  auto it = targets_.find(pid);
  if (it == targets_.end()) return {};
  std::vector<RssSample> out = it->second->Snapshot();
  targets_.erase(it);
  return out;
}

std::vector<RssSample> RssSampler::Timeline(pid_t pid) const {
  std::lock_guard lock(mu_);
  auto it = targets_.find(pid);
  return it == targets_.end() ? std::vector<RssSample>{} : it->second->Snapshot();
}

bool RssSampler::Ended(pid_t pid) const {
  std::lock_guard lock(mu_);
  auto it = targets_.find(pid);
  return it != targets_.end() && it->second->ended;
}

void RssSampler::Run() {
  std::unique_lock lock(mu_);
  Clock::time_point next = Clock::now();
  while (!stop_requested_) {
    Clock::time_point now = Clock::now();
    Tick(now);
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    cpu_ns_.store(int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec);
    next += options_.interval;
    // Behind schedule (a slow tick, a stopped machine): skip the missed ticks instead of bursting.
    if (next <= now) next = now + options_.interval;
    cv_.wait_until(lock, next, [this] { return stop_requested_; });
  }
}

void RssSampler::Tick(Clock::time_point now) {
  if (now - last_group_scan_ >= options_.group_scan_interval) {
    ScanGroups(false);
    last_group_scan_ = now;
  }
  for (auto& [root, target] : targets_) SampleTarget(*target, now);
}

void RssSampler::SampleTarget(Target& t, Clock::time_point now, bool may_end) {
  if (t.ended) return;
  if (now - t.last_discovery >= options_.discovery_interval) {
    t.Discover();
    t.last_discovery = now;
  }
  RssSample sample{Clock::now(), 0, 0};
  for (auto it = t.procs.begin(); it != t.procs.end();) {
    if (auto bytes = it->second->ResidentBytes()) {
      sample.tree_rss_bytes += *bytes;
      ++sample.process_count;
      ++it;
    } else {
      // Gone or a zombie; its children, if any, were re-parented and are tracked on their own.
      it = t.procs.erase(it);
    }
  }
  if (t.procs.empty() && !may_end) return;
  // Before declaring the tree gone, look for group members that escaped the children lists; when the
  // group has no member at all (not even the leader's zombie), kill() says so without a scan of /proc.
  if (t.procs.empty() && t.leads_group && !(kill(-t.root, 0) != 0 && errno == ESRCH) && MayHaveEscapees()) {
    ScanGroups(true);
    if (!t.procs.empty()) return;  // sampled from the next tick
  }
  if (t.procs.empty()) {
    t.End(sample.at);
  } else {
    t.Record(sample, options_.max_samples_per_target);
  }
}

void RssSampler::SampleNow(pid_t pid) {
  std::lock_guard lock(mu_);
  auto it = targets_.find(pid);
  if (it == targets_.end() || it->second->ended) return;
  Target& t = *it->second;
  // An outcome depends on this sample (the resident set at ready, at the stop signal), so it must see
  // the whole tree: workers forked a moment ago, before the next periodic discovery, count too (a
  // target stopped right at ready would otherwise be measured as its leader alone). Group members
  // first, then descendants of everything tracked.
  if (t.leads_group && MayHaveEscapees()) ScanGroups(true, &t);
  t.Discover();
  const auto now = Clock::now();
  t.last_discovery = now;
  SampleTarget(t, now);
}

bool RssSampler::MayHaveEscapees() const {
  // A process whose parent dies is re-parented to the nearest child subreaper above it. When that is
  // this process, a group member outside its leader's tree is, or descends from, a child of ours that
  // nothing owns (the keeper and every target's leader are owned); with none, a scan of /proc would
  // find nothing.
  return !IsChildSubreaper() || HasUnownedChildren();
}

void RssSampler::ScanGroups(bool force, const Target* only) {
  std::map<pid_t, Target*> by_group;
  std::set<pid_t> tracked;
  for (auto& [root, target] : targets_) {
    if (only != nullptr && target.get() != only) continue;
    if (target->ended || !target->leads_group) continue;
    if (!force && target->procs.empty()) continue;
    by_group.emplace(root, target.get());
    for (const auto& [pid, p] : target->procs) tracked.insert(pid);
  }
  if (by_group.empty()) return;
  for (pid_t pid : ListPids()) {
    if (tracked.count(pid)) continue;
    auto stat = ReadProcStat(pid);
    if (!stat || stat->dead()) continue;
    auto it = by_group.find(stat->pgrp);
    if (it != by_group.end()) it->second->Track(pid);
  }
}

}  // namespace coder::harness
