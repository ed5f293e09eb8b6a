// packaging/hostsweep.service passes `systemd-analyze verify`, run on a copy whose ExecStart
// is the binary just built (the installed path need not exist here). verify exits 0 even on
// an unknown key, so any line it prints about the unit is a failure.
#include <gtest/gtest.h>

#include <fstream>

#include "ops/ops_support.hpp"

namespace hostsweep::testing {
namespace {

std::pair<int, std::string> verify(const std::string& unit_text) {
  TempDir tmp;
  auto unit = tmp.path() / "hostsweep.service";
  write_file(unit, unit_text);
  auto [status, out] = shell("SYSTEMD_LOG_COLOR=0 systemd-analyze verify " + unit.string());
  // Only what concerns this unit; a container without systemd as pid 1 may add notes of its own.
  std::string about;
  std::size_t at = 0;
  while (at < out.size()) {
    auto end = out.find('\n', at);
    auto line = out.substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (line.find("hostsweep.service") != std::string::npos) about += line + "\n";
    at = end == std::string::npos ? out.size() : end + 1;
  }
  return {status, about};
}

std::string packaged_unit() {
  auto text = read_file(std::filesystem::path(HOSTSWEEP_SOURCE_DIR) / "packaging" / "hostsweep.service");
  const std::string installed = "/usr/bin/hostsweep ";
  auto at = text.find("ExecStart=" + installed);
  if (at == std::string::npos) return {};
  text.replace(at + 10, installed.size() - 1, HOSTSWEEP_CLI_PATH);
  return text;
}

TEST(ServiceUnit, PackagedUnitPassesSystemdAnalyzeVerify) {
  if (!have_program("systemd-analyze")) GTEST_SKIP() << "systemd-analyze not installed (Debian package systemd)";
  auto text = packaged_unit();
  ASSERT_FALSE(text.empty()) << "no ExecStart=/usr/bin/hostsweep in the unit";
  for (const char* needed : {"Type=notify\n", "NotifyAccess=main\n", "WatchdogSec=", "Delegate=yes\n", "KillMode=mixed\n",
                             "ProtectSystem=strict\n", "ReadWritePaths=/var/lib/hostsweep\n", "PrivateTmp=yes\n",
                             "ProtectHome=yes\n", "NoNewPrivileges=yes\n", "TimeoutStopSec="}) {
    EXPECT_NE(text.find(needed), std::string::npos) << needed;
  }
  auto [status, about] = verify(text);
  EXPECT_EQ(status, 0) << about;
  EXPECT_EQ(about, "");

  // And the check can fail: a misspelt value is reported.
  auto bad = text;
  bad.replace(bad.find("Type=notify"), 11, "Type=notiffy");
  EXPECT_NE(verify(bad).second, "");
}

}  // namespace
}  // namespace hostsweep::testing
