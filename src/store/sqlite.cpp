#include "sqlite.hpp"

#include <sqlite3.h>

#include <fmt/format.h>

namespace hostsweep::store::detail {

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
  return guarded(path, [&] { return SQLite::Database(path.string(), flags | SQLite::OPEN_NOFOLLOW, kBusyTimeoutMs); });
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
