#pragma once

// Finding a test's processes in /proc, for the checks that nothing outlived a run.
#include <sys/types.h>

#include <string>
#include <vector>

namespace coder::e2e {

/// Live processes (zombies excluded) other than this one whose command line contains `marker`, a
/// unique argument the test gave its targets. One scan of /proc.
std::vector<pid_t> ProcessesWith(const std::string& marker);

}  // namespace coder::e2e
