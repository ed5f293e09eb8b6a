#include "hostsweep/testing/temp_dir.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>

#include "hostsweep/error.hpp"

namespace hostsweep::testing {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "hostsweep-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw Error(Errc::io_error, "cannot make a temporary directory like " + pattern + ": " + std::strerror(errno));
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace hostsweep::testing
