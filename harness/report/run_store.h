#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "harness/analysis/run_record.h"

namespace coder::harness {

/// The runs of a report, read one at a time in report order (variant order, then index), so that a
/// report of any size is written without holding its runs in memory.
class RunSource {
 public:
  virtual ~RunSource() = default;
  virtual size_t size() const = 0;
  /// Calls `fn` with each run in report order; stops at, and returns, the first Error (of `fn` or of
  /// reading a run back).
  virtual Status ForEach(const std::function<Status(const RunRecord&)>& fn) const = 0;
  /// The run `index` of `variant`, or an Error when the source has none.
  virtual Result<RunRecord> Find(const std::string& variant, int index) const = 0;
};

/// Runs held in memory, in the order given (a report read back, a merge, a test). Immutable.
class InMemoryRuns : public RunSource {
 public:
  explicit InMemoryRuns(std::vector<RunRecord> runs) : runs_(std::move(runs)) {}
  size_t size() const override { return runs_.size(); }
  Status ForEach(const std::function<Status(const RunRecord&)>& fn) const override;
  Result<RunRecord> Find(const std::string& variant, int index) const override;
  const std::vector<RunRecord>& runs() const { return runs_; }

 private:
  std::vector<RunRecord> runs_;
};

/// Every finished run of an experiment, so that memory stays bounded whatever the run count: the first
/// runs are held in memory up to `memory_budget_bytes` (their approximate size: strings, logs, stacks,
/// timelines), the rest spilled to a temporary file as they arrive, where the store keeps 32 bytes a run
/// in memory (where its JSON line is). Most experiments fit the budget and pay neither the JSON writing
/// nor its reading back for every report format. The file is created unlinked in `dir` (O_TMPFILE, or a mkstemp name
/// unlinked at once where the file system lacks it: nothing to clean up, nothing another user can open
/// by name, mode 0600) and goes with the store.
///
/// Add is thread-safe; reading is for after the last Add.
class RunStore : public RunSource {
 public:
  /// `variant_order` is the report order of the variants; a run of a variant not in it sorts last.
  /// The Error names `dir` and the reason (missing, not writable, no O_TMPFILE on its file system).
  static Result<std::unique_ptr<RunStore>> Open(const std::filesystem::path& dir,
                                                std::vector<std::string> variant_order,
                                                size_t memory_budget_bytes = kDefaultMemoryBudget);
  static constexpr size_t kDefaultMemoryBudget = 32 << 20;
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;
  ~RunStore() override;

  /// Appends `run`. On a write error (a full disk) the run is not stored and the Error says so.
  Status Add(const RunRecord& run);

  size_t size() const override;
  /// Reads each run back from the file, in report order.
  Status ForEach(const std::function<Status(const RunRecord&)>& fn) const override;
  Result<RunRecord> Find(const std::string& variant, int index) const override;
  /// Bytes the file holds.
  uint64_t file_bytes() const;
  /// Runs held in memory rather than in the file.
  size_t held_runs() const;

 private:
  struct Entry {
    uint32_t variant = 0;  ///< position in variant_order_ (its size for an unknown variant)
    int32_t index = 0;
    uint64_t offset = 0;
    uint32_t length = 0;         ///< bytes of the JSON text, without the newline
    uint32_t held = kInTheFile;  ///< else its position in held_
  };
  static constexpr uint32_t kInTheFile = std::numeric_limits<uint32_t>::max();
  RunStore(int fd, std::vector<std::string> variant_order, size_t memory_budget)
      : fd_(fd), variant_order_(std::move(variant_order)), memory_budget_(memory_budget) {}
  uint32_t VariantPosition(const std::string& name) const;
  Result<RunRecord> Read(const Entry& e) const;
  /// The entries in report order (sorted once, on the first read after an Add).
  const std::vector<Entry>& Sorted() const;

  const int fd_;
  const std::vector<std::string> variant_order_;
  mutable std::mutex mu_;
  mutable std::vector<Entry> entries_;
  mutable bool sorted_ = true;
  uint64_t end_ = 0;
  const size_t memory_budget_;
  std::vector<RunRecord> held_;  // guarded by mu_
  size_t held_bytes_ = 0;        // guarded by mu_
};

}  // namespace coder::harness
