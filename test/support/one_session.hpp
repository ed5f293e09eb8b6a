#pragma once
// A fresh data directory with one registered session ("g", "s"), for tests of a pass over real
// session files.

#include <gtest/gtest.h>

#include "policy/sweep_plan.hpp"
#include "hostsweep/store/registry.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::testing {

class OneSessionTest : public ::testing::Test {
 protected:
  TempDir tmp;
  store::DataDir data{tmp.path()};
  TimePoint now = policy::now_utc();
  store::SessionFiles files = store::create_session(data, "g", std::string("s"), now).files;
  policy::SweepPolicy policy;
};

}  // namespace hostsweep::testing
