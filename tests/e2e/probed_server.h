#pragma once

// A fixture for the tests that abuse `coder server`: one real server, and a well-behaved client
// (HealthProbe) that must be answered throughout; the test fails if it ever was not.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/e2e/coder_server.h"
#include "tests/e2e/raw_client.h"

namespace coder::e2e {

class ProbedServerTest : public ::testing::Test {
 protected:
  /// Starts the server with `args` and the probe against it; fails the test if the server never gets ready.
  void Start(std::vector<std::string> args) {
    server = CoderServer::Start({.args = std::move(args)});
    ASSERT_TRUE(server);
    probe = std::make_unique<HealthProbe>(server->host(), server->port());
  }
  void TearDown() override {
    if (!probe) return;
    probe->Stop();
    EXPECT_GT(probe->ok(), 0) << "the well-behaved client was never answered";
    EXPECT_EQ(probe->failed(), 0) << "the well-behaved client failed: " << probe->last_failure();
  }
  std::unique_ptr<CoderServer> server;
  std::unique_ptr<HealthProbe> probe;
};

}  // namespace coder::e2e
