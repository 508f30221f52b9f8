#include "tests/support/process.h"

#include <gtest/gtest.h>

#include <utility>

#include "tests/support/wait.h"

namespace coder::test_support {

std::unique_ptr<harness::ChildProcess> StartOrFail(harness::LaunchSpec spec,
                                                   harness::ChildProcess::LineCallback on_line) {
  auto child = harness::ChildProcess::Start(std::move(spec), std::move(on_line));
  if (!child) {
    ADD_FAILURE() << child.error().message;
    return nullptr;
  }
  return std::move(child.value());
}

FinishedProcess RunToEnd(harness::LaunchSpec spec, std::chrono::milliseconds timeout) {
  auto child = StartOrFail(std::move(spec));
  if (!child) return {};
  FinishedProcess run;
  run.exit = child->WaitUntil(In(timeout));
  run.output = child->Output();
  return run;
}

}  // namespace coder::test_support
