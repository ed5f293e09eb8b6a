#include "sqlite.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <fmt/format.h>

namespace hostsweep::store::detail {
namespace {

// SQLite's own busy_timeout sleeps 1, 2, 5, 10, 15, 20, 25 ms... between tries, so a reader that
// meets a container's commit (a millisecond or two) may sleep ten times longer than the commit
// took: an event path's latency. This one starts at 100 us and grows to 2 ms, and gives up after
// the same kBusyTimeoutMs in all.
int wait_while_busy(void* /*unused*/, int tries) {
  constexpr long kFirstUs = 100;
  constexpr long kLongestUs = 2000;
  constexpr int kGrowingTries = 5;  // 100, 200, 400, 800, 1600 us
  long waited_us = 0;
  long next_us = kFirstUs;
  if (tries < kGrowingTries) {
    waited_us = kFirstUs * ((1L << tries) - 1);
    next_us = kFirstUs << tries;
  } else {
    waited_us = kFirstUs * ((1L << kGrowingTries) - 1) + static_cast<long>(tries - kGrowingTries) * kLongestUs;
    next_us = kLongestUs;
  }
  if (waited_us >= kBusyTimeoutMs * 1000L) return 0;  // SQLITE_BUSY for the caller
  ::usleep(static_cast<useconds_t>(next_us));
  return 1;
}

}  // namespace

Error translate(const std::filesystem::path& path, const SQLite::Exception& e) {
  switch (e.getErrorCode()) {
    case SQLITE_NOTADB:
      return Error(Errc::corrupt_file, fmt::format("{}: not an SQLite database", path.string()));
    case SQLITE_CORRUPT:
      return Error(Errc::corrupt_file, fmt::format("{}: the database is corrupt ({})", path.string(), e.what()));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Error(Errc::io_error,
                   fmt::format("{}: still locked by another process after {} ms", path.string(), kBusyTimeoutMs));
    case SQLITE_CANTOPEN:
      return Error(Errc::not_found, fmt::format("{}: cannot open ({})", path.string(), e.what()));
    default:
      return Error(Errc::io_error, fmt::format("{}: {}", path.string(), e.what()));
  }
}

SQLite::Database open_unverified(const std::filesystem::path& path, Access access) {
  std::error_code ec;
  if (access != Access::create && !std::filesystem::exists(path, ec)) {
    throw Error(Errc::not_found, fmt::format("{}: no such file", path.string()));
  }
  int flags = SQLite::OPEN_READONLY;
  if (access == Access::read_write) flags = SQLite::OPEN_READWRITE;
  if (access == Access::create) flags = SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE;
  return guarded(path, [&] {
    SQLite::Database db(path.string(), flags | SQLite::OPEN_NOFOLLOW);
    sqlite3_busy_handler(db.getHandle(), &wait_while_busy, nullptr);
    return db;
  });
}

SQLite::Database open_database(const std::filesystem::path& path, Access access) {
  auto db = open_unverified(path, access);
  // Reading the schema is what makes SQLite notice a file that is not a database.
  guarded(path, [&] { db.exec("SELECT count(*) FROM sqlite_schema"); });
  return db;
}

bool table_exists(SQLite::Database& db, std::string_view table) {
  SQLite::Statement q(db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?");
  q.bind(1, std::string(table));
  return q.executeStep();
}

}  // namespace hostsweep::store::detail
