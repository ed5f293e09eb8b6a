#include "hostsweep/store/registry.hpp"

#include <fmt/format.h>

#include "schema.hpp"
#include "session_template.hpp"
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

// rowid names a row whatever its id holds (NULL, a newline, 10 KB).
constexpr const char* kSelectSessions =
    "SELECT rowid, id, agent_group_id, coalesce(status, 'active'), coalesce(container_status, 'stopped'), "
    "last_active, coalesce(created_at, '') FROM sessions";

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

// One registry row as it is stored, before anything is trusted.
struct Row {
  std::int64_t rowid = 0;
  bool id_is_null = false;
  bool id_is_text = false;  // not a blob or a number either
  bool group_is_null = false;
  SessionRecord record;
};

Row read_row(SQLite::Statement& q) {
  Row row;
  row.rowid = q.getColumn(0).getInt64();
  row.id_is_null = q.getColumn(1).isNull();
  row.id_is_text = q.getColumn(1).isText();
  row.group_is_null = q.getColumn(2).isNull();
  SessionRecord& r = row.record;
  r.id = q.getColumn(1).getString();
  r.agent_group_id = q.getColumn(2).getString();
  r.status = q.getColumn(3).getString();
  r.container_status = q.getColumn(4).getString();
  if (!q.getColumn(5).isNull()) r.last_active = q.getColumn(5).getString();
  r.created_at = q.getColumn(6).getString();
  return row;
}

Error bad_row(const DataDir& data, std::int64_t rowid, std::string_view what) {
  return Error(Errc::corrupt_file, fmt::format("{} row {}: {}", data.registry().string(), rowid, what));
}

// The session a row names, or Error(corrupt_file) naming the row and what is wrong with it.
Session session_of(const DataDir& data, Row row) {
  const auto& r = row.record;
  if (!row.id_is_text) {
    throw bad_row(data, row.rowid, row.id_is_null ? "its session id is NULL" : "its session id is not text");
  }
  try {
    validate_id("session id", r.id);  // first, so that the message names the row by its id when it can
  } catch (const Error& e) {
    throw bad_row(data, row.rowid, e.what());  // validate_id shows the id escaped and cut short
  }
  if (row.group_is_null) {
    throw bad_row(data, row.rowid, fmt::format("session \"{}\": its agent group id is NULL", r.id));
  }
  SessionFiles files;
  try {
    files = data.session(r.agent_group_id, r.id);
  } catch (const Error& e) {
    throw bad_row(data, row.rowid, fmt::format("session \"{}\": {}", r.id, e.what()));
  }
  return Session{std::move(row.record), std::move(files)};
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

std::filesystem::path default_template(const DataDir& data, std::string_view agent_group_id) {
  validate_id("agent group id", agent_group_id);
  return data.root() / "templates" / std::string(agent_group_id);
}

Session create_session(const DataDir& data, std::string_view agent_group_id,
                       const std::optional<std::string>& session_id, TimePoint now,
                       const std::optional<std::filesystem::path>& template_dir) {
  std::string id = session_id.value_or(generate_id("sess", now));
  SessionFiles files = data.session(agent_group_id, id);  // validates both ids
  // The group's default only when it is there at all (a symlink there is there, and refused).
  std::optional<fs::path> source = template_dir;
  if (!source) {
    std::error_code ec;
    auto group_default = default_template(data, agent_group_id);
    if (fs::symlink_status(group_default, ec).type() != fs::file_type::not_found) source = group_default;
  }

  std::error_code ec;
  fs::create_directories(files.dir().parent_path(), ec);
  if (ec) throw Error(Errc::io_error, fmt::format("{}: {}", files.dir().parent_path().string(), ec.message()));

  auto registry = detail::open_database(data.registry(), Access::create);
  return guarded(data.registry(), [&] {
    registry.exec(kRegistrySchema);
    SQLite::Transaction txn(registry, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement taken(registry, "SELECT 1 FROM sessions WHERE id = ?");
    taken.bind(1, id);
    if (taken.executeStep()) throw Error(Errc::already_exists, fmt::format("session \"{}\" already exists", id));
    if (fs::exists(files.dir(), ec)) {
      throw Error(Errc::already_exists,
                  fmt::format("{} already exists but is not registered; move it away first", files.dir().string()));
    }

    // Built under a temporary name and renamed into place, so no one ever sees half a session.
    DirectoryGuard staging{files.dir().parent_path() / fmt::format(".{}.creating", generate_id("tmp", now))};
    build_session_files(SessionFiles(staging.path));
    if (source) detail::copy_template(*source, staging.path);

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

    fs::rename(staging.path, files.dir(), ec);
    if (ec) throw Error(Errc::io_error, fmt::format("{}: {}", files.dir().string(), ec.message()));
    staging.armed = false;
    try {
      txn.commit();
    } catch (...) {
      fs::remove_all(files.dir(), ec);
      throw;
    }
    return Session{std::move(record), files};
  });
}

SessionListing list_sessions_checked(const DataDir& data, bool supervised_only) {
  auto db = open_registry(data);
  return guarded(data.registry(), [&] {
    // Every row, so that a second row for an id is seen whatever the statuses; rows with the
    // same id come together, the first inserted first.
    SQLite::Statement q(db, std::string(kSelectSessions) + " ORDER BY id, rowid");
    SessionListing out;
    std::optional<std::pair<std::string, std::int64_t>> first;  // the current id and its first row
    while (q.executeStep()) {
      Row row = read_row(q);
      const bool duplicate = row.id_is_text && first && row.record.id == first->first;
      if (row.id_is_text && !duplicate) first.emplace(row.record.id, row.rowid);
      if (supervised_only && !row.record.supervised()) continue;
      const std::int64_t rowid = row.rowid;
      try {
        Session session = session_of(data, std::move(row));
        if (!duplicate) {
          out.sessions.push_back(std::move(session));
          continue;
        }
        // Checked before, so that the id shown here is a valid one.
        out.bad_rows.push_back(bad_row(data, rowid, fmt::format("a second row for session \"{}\" (the first is row {})",
                                                                session.record.id, first->second)));
      } catch (const Error& e) {
        out.bad_rows.push_back(e);
      }
    }
    return out;
  });
}

std::vector<Session> list_sessions(const DataDir& data, bool supervised_only) {
  return list_sessions_checked(data, supervised_only).sessions;
}

bool set_session_paused(const DataDir& data, std::string_view session_id, bool paused) {
  const Session session = find_session(data, session_id);  // the row, its ids and its directory
  const std::string_view wanted = paused ? kSessionPaused : kSessionActive;
  auto registry = detail::open_database(data.registry(), Access::read_write);
  return guarded(data.registry(), [&] {
    SQLite::Transaction txn(registry, SQLite::TransactionBehavior::IMMEDIATE);
    // The first row inserted is the session (find_session's), read again under the write lock.
    SQLite::Statement q(registry, "SELECT rowid, coalesce(status, 'active') FROM sessions WHERE id = ? ORDER BY rowid LIMIT 1");
    q.bind(1, session.record.id);
    if (!q.executeStep()) {
      throw Error(Errc::not_found, fmt::format("unknown session \"{}\" (not in {})", session.record.id, data.registry().string()));
    }
    const std::int64_t rowid = q.getColumn(0).getInt64();
    const std::string status = q.getColumn(1).getString();
    if (status == wanted) return false;
    if (status != kSessionActive && status != kSessionPaused) {
      throw Error(Errc::invalid_argument,
                  fmt::format("session \"{}\" is not supervised (its status is \"{}\"): only an active or paused session "
                              "can be {}",
                              session.record.id, status, paused ? "paused" : "resumed"));
    }
    SQLite::Statement update(registry, "UPDATE sessions SET status = ? WHERE rowid = ?");
    update.bind(1, std::string(wanted));
    update.bind(2, rowid);
    update.exec();
    txn.commit();
    return true;
  });
}

Session find_session(const DataDir& data, std::string_view session_id) {
  validate_id("session id", session_id);
  auto db = open_registry(data);
  auto row = guarded(data.registry(), [&]() -> std::optional<Row> {
    // The first row inserted is the session, as in the listing.
    SQLite::Statement q(db, std::string(kSelectSessions) + " WHERE id = ? ORDER BY rowid LIMIT 1");
    q.bind(1, std::string(session_id));
    if (!q.executeStep()) return std::nullopt;
    return read_row(q);
  });
  if (!row) {
    throw Error(Errc::not_found, fmt::format("unknown session \"{}\" (not in {})", session_id, data.registry().string()));
  }
  Session session = session_of(data, std::move(*row));
  std::error_code ec;
  if (!fs::is_directory(session.files.dir(), ec)) {
    throw Error(Errc::not_found,
                fmt::format("session \"{}\": its directory {} is missing", session_id, session.files.dir().string()));
  }
  if (!fs::is_regular_file(session.files.inbound(), ec)) {
    throw Error(Errc::corrupt_file,
                fmt::format("{} is not a session directory (no inbound.db)", session.files.dir().string()));
  }
  return session;
}

}  // namespace hostsweep::store
