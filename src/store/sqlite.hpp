#pragma once
// Internal: how the store opens SQLite files and turns SQLite's failures into one clear
// hostsweep::Error. Every connection is short-lived (open, work, close: PROTOCOL.md
// invariant 3) and has a busy timeout.
//
// A session directory is written by the container, which is untrusted (FAILURE-MODES.md):
// every file the store opens goes through open_unverified, which refuses a database, or a
// journal beside it, that is a symlink or not a regular file (before SQLite sees it, and again
// through SQLITE_OPEN_NOFOLLOW), and runs SQLite on a VFS that never opens a super-journal and
// only ever opens regular files, without blocking: nothing outside the session is read, written
// or deleted on a container's word, and a fifo swapped in after the check cannot hang a thread.

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <utility>

#include "hostsweep/error.hpp"

namespace hostsweep::store::detail {

inline constexpr int kBusyTimeoutMs = 5000;  // the reference's value

enum class Access {
  read_only,   // the file must exist; nothing is written
  read_write,  // the file must exist
  create,      // created when missing
};

// Why `database` must not be opened: it (or the journal, WAL or shared-memory file beside it)
// is a symlink or not a regular file, or its journal names a super-journal; `database` is
// missing (and `access` is not create); or it is bigger than `max_bytes`. nullopt when it may be
// opened. Reads only metadata with lstat, and the last bytes of a journal through O_NOFOLLOW.
std::optional<Error> refusal(const std::filesystem::path& database, Access access,
                             std::optional<std::int64_t> max_bytes = std::nullopt);

// The error for a database of `bytes` bytes over the cap of `max_bytes`: "<path> is 300 MiB,
// over the 256 MiB cap: not read".
Error over_cap(const std::filesystem::path& database, std::int64_t bytes, std::int64_t max_bytes);

// Opens `path` and checks that it is an SQLite database at all (SQLite itself only notices
// on the first read). Throws Error(not_found | corrupt_file | io_error).
SQLite::Database open_database(const std::filesystem::path& path, Access access);

// Opens `path` without that check: for a caller whose first statement reads the schema
// anyway (and so fails the same way on a file that is not a database), saving a lock cycle.
// Throws refusal()'s error first, if there is one.
SQLite::Database open_unverified(const std::filesystem::path& path, Access access,
                                 std::optional<std::int64_t> max_bytes = std::nullopt);

// SQLite's exception, translated: "<path>: <what went wrong> (<sqlite message>)". A failure to
// open is explained by refusal() when it finds a reason now (a file swapped after the check).
Error translate(const std::filesystem::path& path, const SQLite::Exception& e);

// Runs `work`, translating SQLite exceptions raised by it.
template <typename Work>
auto guarded(const std::filesystem::path& path, Work&& work) -> decltype(work()) {
  try {
    return std::forward<Work>(work)();
  } catch (const SQLite::Exception& e) {
    throw translate(path, e);
  }
}

bool table_exists(SQLite::Database& db, std::string_view table);

}  // namespace hostsweep::store::detail
