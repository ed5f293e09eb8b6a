#pragma once
// Puts a directory where a session file was, and back, each in one atomic step
// (renameat2 RENAME_EXCHANGE): a supervisor looking meanwhile finds either the file or the
// directory, never no file at all (which is a different case: "not written yet").

#include <fcntl.h>
#include <stdio.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace hostsweep::testing {

inline void exchange_paths(const std::filesystem::path& a, const std::filesystem::path& b) {
  if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) != 0) {
    throw std::runtime_error("renameat2 " + a.string() + " <-> " + b.string() + ": " + std::strerror(errno));
  }
}

// `file` becomes a directory; the file waits at `away`.
inline void replace_with_directory(const std::filesystem::path& file, const std::filesystem::path& away) {
  std::filesystem::create_directory(away);
  exchange_paths(file, away);
}

// The file is back at `file`; the directory goes.
inline void restore_from(const std::filesystem::path& file, const std::filesystem::path& away) {
  exchange_paths(file, away);
  std::filesystem::remove(away);
}

}  // namespace hostsweep::testing
