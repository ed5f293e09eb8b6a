#pragma once
// Internal: how the store opens SQLite files and turns SQLite's failures into one clear
// hostsweep::Error. Every connection is short-lived (open, work, close: PROTOCOL.md
// invariant 3) and has a busy timeout.

#include <SQLiteCpp/SQLiteCpp.h>

#include <filesystem>
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

// Opens `path` and checks that it is an SQLite database at all (SQLite itself only notices
// on the first read). Throws Error(not_found | corrupt_file | io_error).
SQLite::Database open_database(const std::filesystem::path& path, Access access);

// Opens `path` without that check: for a caller whose first statement reads the schema
// anyway (and so fails the same way on a file that is not a database), saving a lock cycle.
SQLite::Database open_unverified(const std::filesystem::path& path, Access access);

// SQLite's exception, translated: "<path>: <what went wrong> (<sqlite message>)".
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
