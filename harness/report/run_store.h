#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
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

/// Every finished run of an experiment, spilled to a temporary file as it arrives, so that memory
/// stays bounded whatever the run count: the store keeps 24 bytes a run in memory (where its JSON line
/// is), the file holds the records. The file is created unlinked in `dir` (O_TMPFILE, or a mkstemp name
/// unlinked at once where the file system lacks it: nothing to clean up, nothing another user can open
/// by name, mode 0600) and goes with the store.
///
/// Add is thread-safe (runs finish on the runner's worker threads); reading is for after the last Add.
class RunStore : public RunSource {
 public:
  /// `variant_order` is the report order of the variants; a run of a variant not in it sorts last.
  /// The Error names `dir` and the reason (missing, not writable, no O_TMPFILE on its file system).
  static Result<std::unique_ptr<RunStore>> Open(const std::filesystem::path& dir,
                                                std::vector<std::string> variant_order);
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

 private:
  struct Entry {
    uint32_t variant = 0;  ///< position in variant_order_ (its size for an unknown variant)
    int32_t index = 0;
    uint64_t offset = 0;
    uint32_t length = 0;  ///< bytes of the JSON text, without the newline
  };
  RunStore(int fd, std::vector<std::string> variant_order) : fd_(fd), variant_order_(std::move(variant_order)) {}
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
};

}  // namespace coder::harness
