#pragma once
// A fresh directory for one test, removed with everything in it when the object goes.

#include <filesystem>

namespace hostsweep::testing {

class TempDir {
 public:
  // Under std::filesystem::temp_directory_path() ($TMPDIR), mode 0700. Throws
  // hostsweep::Error(io_error) when it cannot be made.
  TempDir();
  ~TempDir();  // never throws; what cannot be removed is left
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace hostsweep::testing
