#include "schema.hpp"

#include <sqlite3.h>

#include <set>
#include <string>

#include <fmt/format.h>

#include "hostsweep/error.hpp"
#include "sqlite.hpp"

namespace hostsweep::store::detail {
namespace {

constexpr const char* kInboundSchema = R"sql(
CREATE TABLE IF NOT EXISTS messages_in (
  id                TEXT PRIMARY KEY,
  seq               INTEGER UNIQUE,
  kind              TEXT NOT NULL,
  timestamp         TEXT NOT NULL,
  status            TEXT DEFAULT 'pending',
  process_after     TEXT,
  recurrence        TEXT,
  series_id         TEXT,
  tries             INTEGER DEFAULT 0,
  "trigger"         INTEGER NOT NULL DEFAULT 1,
  platform_id       TEXT,
  channel_type      TEXT,
  thread_id         TEXT,
  content           TEXT NOT NULL,
  source_session_id TEXT,
  on_wake           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_messages_in_series ON messages_in(series_id);
CREATE TABLE IF NOT EXISTS delivered (
  message_out_id      TEXT PRIMARY KEY,
  platform_message_id TEXT,
  status              TEXT NOT NULL DEFAULT 'delivered',
  delivered_at        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS destinations (
  name           TEXT PRIMARY KEY,
  display_name   TEXT,
  type           TEXT NOT NULL,
  channel_type   TEXT,
  platform_id    TEXT,
  agent_group_id TEXT
);
CREATE TABLE IF NOT EXISTS session_routing (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  channel_type TEXT,
  platform_id  TEXT,
  thread_id    TEXT
);
)sql";

constexpr const char* kOutboundSchema = R"sql(
CREATE TABLE IF NOT EXISTS messages_out (
  id            TEXT PRIMARY KEY,
  seq           INTEGER UNIQUE,
  in_reply_to   TEXT,
  timestamp     TEXT NOT NULL,
  deliver_after TEXT,
  recurrence    TEXT,
  kind          TEXT NOT NULL,
  platform_id   TEXT,
  channel_type  TEXT,
  thread_id     TEXT,
  content       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS processing_ack (
  message_id     TEXT PRIMARY KEY,
  status         TEXT NOT NULL,
  status_changed TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS session_state (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS container_state (
  id                       INTEGER PRIMARY KEY CHECK (id = 1),
  current_tool             TEXT,
  tool_declared_timeout_ms INTEGER,
  tool_started_at          TEXT,
  updated_at               TEXT NOT NULL
);
)sql";

// Columns added after the first version of the schema, with the definition that adds them.
struct LateColumn {
  const char* name;
  const char* definition;
};
constexpr LateColumn kLateColumns[] = {
    {"series_id", "series_id TEXT"},
    {"trigger", "\"trigger\" INTEGER NOT NULL DEFAULT 1"},
    {"source_session_id", "source_session_id TEXT"},
    {"on_wake", "on_wake INTEGER NOT NULL DEFAULT 0"},
};

// One statement (one lock cycle): a missing table has no columns.
std::set<std::string> inbound_columns(SQLite::Database& db) {
  std::set<std::string> columns;
  SQLite::Statement q(db, "SELECT name FROM pragma_table_info('messages_in')");
  while (q.executeStep()) columns.insert(q.getColumn(0).getString());
  if (columns.empty()) {
    throw Error(Errc::corrupt_file,
                fmt::format("{}: not a session inbound.db (it has no messages_in table)", db.getFilename()));
  }
  return columns;
}

// The check every open makes, so it must be cheap: SQLite's column metadata, looked up in the
// schema it parses anyway on a connection's first use, compiles no statement (a probe
// statement naming every late column cost 3 % of a whole first pass, measured with callgrind;
// pragma_table_info several times more). Loading the schema is also what notices a file that is not a database.
bool inbound_schema_is_current(SQLite::Database& db) {
  for (const auto& column : kLateColumns) {
    const int rc = sqlite3_table_column_metadata(db.getHandle(), "main", "messages_in", column.name, nullptr, nullptr,
                                                 nullptr, nullptr, nullptr);
    if (rc == SQLITE_ERROR) return false;  // no such column, or no such table
    if (rc != SQLITE_OK) throw SQLite::Exception(db.getHandle(), rc);  // not a database, locked, ...
  }
  return true;
}

}  // namespace

void create_inbound_schema(SQLite::Database& db) {
  db.exec("PRAGMA journal_mode=DELETE");
  db.exec(kInboundSchema);
}

void create_outbound_schema(SQLite::Database& db) {
  db.exec("PRAGMA journal_mode=DELETE");
  db.exec(kOutboundSchema);
}

void upgrade_inbound_schema(SQLite::Database& db) {
  if (inbound_schema_is_current(db)) return;
  SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
  auto columns = inbound_columns(db);  // again, now that no one else can change it
  for (const auto& column : kLateColumns) {
    if (columns.count(column.name)) continue;
    db.exec(fmt::format("ALTER TABLE messages_in ADD COLUMN {}", column.definition));
    if (std::string_view(column.name) == "series_id") {
      db.exec("UPDATE messages_in SET series_id = id WHERE series_id IS NULL");
    }
  }
  db.exec("CREATE INDEX IF NOT EXISTS idx_messages_in_series ON messages_in(series_id)");
  txn.commit();
}

}  // namespace hostsweep::store::detail
