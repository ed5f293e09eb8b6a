#include "hostsweep/store/registry.hpp"

#include <fmt/format.h>

#include "schema.hpp"
#include "sqlite.hpp"

namespace hostsweep::store {
namespace {

namespace fs = std::filesystem;
using detail::Access;
using detail::guarded;

constexpr const char* kRegistrySchema = R"sql(
CREATE TABLE IF NOT EXISTS sessions (
  id               TEXT PRIMARY KEY,
  agent_group_id   TEXT NOT NULL,
  status           TEXT NOT NULL DEFAULT 'active',
  container_status TEXT NOT NULL DEFAULT 'stopped',
  last_active      TEXT,
  created_at       TEXT NOT NULL
);
)sql";

constexpr const char* kSelectSessions =
    "SELECT id, agent_group_id, coalesce(status, 'active'), coalesce(container_status, 'stopped'), last_active, "
    "coalesce(created_at, '') FROM sessions";

SQLite::Database open_registry(const DataDir& data) {
  std::error_code ec;
  if (!fs::exists(data.registry(), ec)) {
    throw Error(Errc::not_found, fmt::format("{} is not a hostsweep data directory (no hostsweep.db); "
                                             "`hostsweep session create` makes one",
                                             data.root().string()));
  }
  // Read-only: listing must not look like a write to whoever watches the file (the supervisor).
  auto db = detail::open_database(data.registry(), Access::read_only);
  guarded(data.registry(), [&] {
    if (!detail::table_exists(db, "sessions")) {
      throw Error(Errc::corrupt_file, fmt::format("{}: not a hostsweep registry (it has no sessions table)",
                                                  data.registry().string()));
    }
  });
  return db;
}

SessionRecord read_record(SQLite::Statement& q) {
  SessionRecord r;
  r.id = q.getColumn(0).getString();
  r.agent_group_id = q.getColumn(1).getString();
  r.status = q.getColumn(2).getString();
  r.container_status = q.getColumn(3).getString();
  if (!q.getColumn(4).isNull()) r.last_active = q.getColumn(4).getString();
  r.created_at = q.getColumn(5).getString();
  return r;
}

// Removes a half-built directory; used on every failure path of create_session.
struct DirectoryGuard {
  fs::path path;
  bool armed = true;
  ~DirectoryGuard() {
    if (!armed) return;
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void build_session_files(const SessionFiles& files) {
  std::error_code ec;
  fs::create_directories(files.outbox(), ec);
  if (ec) throw Error(Errc::io_error, fmt::format("{}: {}", files.outbox().string(), ec.message()));
  {
    auto in = detail::open_database(files.inbound(), Access::create);
    guarded(files.inbound(), [&] { detail::create_inbound_schema(in); });
  }
  auto out = detail::open_database(files.outbound(), Access::create);
  guarded(files.outbound(), [&] { detail::create_outbound_schema(out); });
}

}  // namespace

Session create_session(const DataDir& data, std::string_view agent_group_id,
                       const std::optional<std::string>& session_id, TimePoint now) {
  std::string id = session_id.value_or(generate_id("sess", now));
  SessionFiles files = data.session(agent_group_id, id);  // validates both ids

  std::error_code ec;
  fs::create_directories(files.dir.parent_path(), ec);
  if (ec) throw Error(Errc::io_error, fmt::format("{}: {}", files.dir.parent_path().string(), ec.message()));

  auto registry = detail::open_database(data.registry(), Access::create);
  return guarded(data.registry(), [&] {
    registry.exec(kRegistrySchema);
    SQLite::Transaction txn(registry, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement taken(registry, "SELECT 1 FROM sessions WHERE id = ?");
    taken.bind(1, id);
    if (taken.executeStep()) throw Error(Errc::already_exists, fmt::format("session \"{}\" already exists", id));
    if (fs::exists(files.dir, ec)) {
      throw Error(Errc::already_exists,
                  fmt::format("{} already exists but is not registered; move it away first", files.dir.string()));
    }

    // Built under a temporary name and renamed into place, so no one ever sees half a session.
    DirectoryGuard staging{files.dir.parent_path() / fmt::format(".{}.creating", generate_id("tmp", now))};
    build_session_files(SessionFiles{staging.path});

    SessionRecord record{id, std::string(agent_group_id), "active", "stopped", std::nullopt,
                         policy::format_iso8601(now)};
    SQLite::Statement insert(registry, R"sql(
      INSERT INTO sessions (id, agent_group_id, status, container_status, last_active, created_at)
      VALUES (?, ?, ?, ?, NULL, ?))sql");
    insert.bind(1, record.id);
    insert.bind(2, record.agent_group_id);
    insert.bind(3, record.status);
    insert.bind(4, record.container_status);
    insert.bind(5, record.created_at);
    insert.exec();

    fs::rename(staging.path, files.dir, ec);
    if (ec) throw Error(Errc::io_error, fmt::format("{}: {}", files.dir.string(), ec.message()));
    staging.armed = false;
    try {
      txn.commit();
    } catch (...) {
      fs::remove_all(files.dir, ec);
      throw;
    }
    return Session{std::move(record), files};
  });
}

std::vector<Session> list_sessions(const DataDir& data, bool active_only) {
  auto db = open_registry(data);
  return guarded(data.registry(), [&] {
    std::string sql = std::string(kSelectSessions) + (active_only ? " WHERE status = 'active'" : "") + " ORDER BY id";
    SQLite::Statement q(db, sql);
    std::vector<Session> out;
    while (q.executeStep()) {
      SessionRecord record = read_record(q);
      // A registry row with a bad id is reported, not followed outside the data directory.
      SessionFiles files = data.session(record.agent_group_id, record.id);
      out.push_back({std::move(record), std::move(files)});
    }
    return out;
  });
}

Session find_session(const DataDir& data, std::string_view session_id) {
  validate_id("session id", session_id);
  auto db = open_registry(data);
  auto record = guarded(data.registry(), [&]() -> std::optional<SessionRecord> {
    SQLite::Statement q(db, std::string(kSelectSessions) + " WHERE id = ?");
    q.bind(1, std::string(session_id));
    if (!q.executeStep()) return std::nullopt;
    return read_record(q);
  });
  if (!record) {
    throw Error(Errc::not_found, fmt::format("unknown session \"{}\" (not in {})", session_id, data.registry().string()));
  }
  SessionFiles files = data.session(record->agent_group_id, record->id);
  std::error_code ec;
  if (!fs::is_directory(files.dir, ec)) {
    throw Error(Errc::not_found, fmt::format("session \"{}\": its directory {} is missing", session_id, files.dir.string()));
  }
  if (!fs::is_regular_file(files.inbound(), ec)) {
    throw Error(Errc::corrupt_file,
                fmt::format("{} is not a session directory (no inbound.db)", files.dir.string()));
  }
  return Session{std::move(*record), std::move(files)};
}

}  // namespace hostsweep::store
