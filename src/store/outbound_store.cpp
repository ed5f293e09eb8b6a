#include "store/outbound_store.hpp"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>

#include <fmt/format.h>

#include "schema.hpp"
#include "sqlite.hpp"

namespace hostsweep::store {
namespace {

using detail::Access;
using detail::guarded;

std::string_view text_of(const SQLite::Column& column) {
  const char* text = column.getText();  // before getBytes, as SQLite requires
  return {text, static_cast<std::size_t>(column.getBytes())};
}

// Every processing_ack row, or (with pending_ids) only those a pass can act on: see
// OutboundReadOptions. The rows left out are never copied out of SQLite. Each status is
// parsed here, once.
std::vector<policy::Ack> read_acks(SQLite::Database& db, const OutboundReadOptions& options) {
  std::vector<policy::Ack> acks;
  SQLite::Statement q(db, "SELECT message_id, status, status_changed FROM processing_ack");
  if (!options.pending_ids) {
    while (q.executeStep()) {
      acks.push_back({q.getColumn(0).getString(), policy::parse_ack_status(text_of(q.getColumn(1))), q.getColumn(2).getString()});
    }
    return acks;
  }
  const std::unordered_set<std::string_view> pending(options.pending_ids->begin(), options.pending_ids->end());
  std::optional<policy::Ack> latest;
  std::optional<TimePoint> latest_at;
  while (q.executeStep()) {
    const std::string_view id = text_of(q.getColumn(0));
    const auto status = policy::parse_ack_status(text_of(q.getColumn(1)));
    if (policy::ack_decides(status, pending.count(id) != 0)) {
      acks.push_back({std::string(id), status, q.getColumn(2).getString()});
      continue;
    }
    const std::string_view changed = text_of(q.getColumn(2));
    // As decide_stuck reads it; an unreadable time is never a sign of life there either.
    const auto at = policy::parse_timestamp_latest(changed);
    if (at && (!latest_at || *at > *latest_at)) {
      latest_at = at;
      latest = policy::Ack{std::string(id), status, std::string(changed)};
    }
  }
  if (latest) acks.push_back(std::move(*latest));
  return acks;
}

// nullopt: a hot journal, which a read-only connection cannot roll back.
std::optional<OutboundSnapshot> read_snapshot(const SessionFiles& files, Access access,
                                              const OutboundReadOptions& options) {
  OutboundSnapshot snapshot;
  const auto path = files.outbound();
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT) return snapshot;  // no outbound.db yet
  auto db = detail::open_unverified(path, access, options.max_bytes);
  try {
    // One read transaction: one snapshot of what the container wrote, one lock cycle. Its
    // first read of the schema is also what notices a file that is not a database, and what
    // rolls back a hot journal when the connection may write.
    SQLite::Transaction read(db, SQLite::TransactionBehavior::DEFERRED);
    std::set<std::string> tables;
    SQLite::Statement list(db, "SELECT name FROM sqlite_schema WHERE type = 'table'");
    while (list.executeStep()) tables.insert(list.getColumn(0).getString());
    // The size of this snapshot: the file may have grown since the check before the open.
    const std::int64_t bytes =
        db.execAndGet("PRAGMA page_count").getInt64() * db.execAndGet("PRAGMA page_size").getInt64();
    if (bytes > options.max_bytes) throw detail::over_cap(path, bytes, options.max_bytes);
    snapshot.exists = true;
    snapshot.complete = tables.count("messages_out") && tables.count("processing_ack") && tables.count("session_state") &&
                        tables.count("container_state");
    if (tables.count("processing_ack")) snapshot.acks = read_acks(db, options);
    if (tables.count("container_state")) {
      SQLite::Statement q(db, R"sql(
        SELECT current_tool, tool_declared_timeout_ms, tool_started_at, updated_at FROM container_state WHERE id = 1)sql");
      if (q.executeStep()) {
        policy::ToolFact tool;
        if (!q.getColumn(0).isNull()) tool.current_tool = q.getColumn(0).getString();
        if (q.getColumn(1).isInteger()) tool.declared_timeout_ms = q.getColumn(1).getInt64();
        if (!q.getColumn(2).isNull()) tool.tool_started_at = q.getColumn(2).getString();
        tool.updated_at = q.getColumn(3).getString();
        snapshot.tool = std::move(tool);
      }
    }
    read.commit();
  } catch (const SQLite::Exception& e) {
    if (e.getExtendedErrorCode() == SQLITE_READONLY_ROLLBACK) return std::nullopt;
    throw detail::translate(path, e);
  }
  return snapshot;
}

// Runs `statement` (one parameter: a message id) for each id, in one write transaction; the
// rows it changed.
int delete_each(SQLite::Database& db, const std::vector<std::string>& ids, const char* statement) {
  SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
  SQLite::Statement del(db, statement);
  int deleted = 0;
  for (const auto& id : ids) {
    del.bind(1, id);
    deleted += del.exec();
    del.reset();
  }
  txn.commit();
  return deleted;
}

HotJournal hot_journal(const SessionFiles& files, const char* why) {
  return HotJournal(Errc::io_error,
               fmt::format("{} has a hot journal (a writer died mid-transaction); {}", files.outbound().string(), why));
}

}  // namespace

OutboundSnapshot read_outbound(const SessionFiles& files, const OutboundReadOptions& options) {
  if (auto snapshot = read_snapshot(files, Access::read_only, options)) return std::move(*snapshot);
  throw hot_journal(files, "it is rolled back once the container has ended");
}

OutboundSnapshot read_outbound(const SessionFiles& files, const os::SessionLock& /*held*/,
                               const OutboundReadOptions& options) {
  // Read-only first: closing a file opened for writing is an IN_CLOSE_WRITE, which the
  // supervisor takes for a container's commit and answers with another check (FAILURE-MODES.md
  // 18). Read-write only to roll back a hot journal, a write of its own.
  if (auto snapshot = read_snapshot(files, Access::read_only, options)) return std::move(*snapshot);
  if (auto snapshot = read_snapshot(files, Access::read_write, options)) return std::move(*snapshot);
  throw hot_journal(files, "the host cannot open the file for writing to roll it back");
}

int delete_orphan_claims(const SessionFiles& files, const std::vector<std::string>& message_ids,
                         const os::SessionLock& /*held*/) {
  if (message_ids.empty()) return 0;
  auto db = detail::open_database(files.outbound(), Access::read_write);
  return guarded(files.outbound(), [&] {
    return delete_each(db, message_ids, "DELETE FROM processing_ack WHERE message_id = ? AND status = 'processing'");
  });
}

int delete_acks(const SessionFiles& files, const std::vector<std::string>& message_ids, const os::SessionLock& /*held*/) {
  std::error_code ec;
  if (message_ids.empty() ||
      std::filesystem::symlink_status(files.outbound(), ec).type() == std::filesystem::file_type::not_found) {
    return 0;
  }
  auto db = detail::open_database(files.outbound(), Access::read_write);
  return guarded(files.outbound(), [&] {
    if (!detail::table_exists(db, "processing_ack")) return 0;
    return delete_each(db, message_ids, "DELETE FROM processing_ack WHERE message_id = ?");
  });
}

void ensure_outbound(const SessionFiles& files, const os::SessionLock& /*held*/) {
  auto db = detail::open_database(files.outbound(), Access::create);
  guarded(files.outbound(), [&] { detail::create_outbound_schema(db); });
}

std::optional<TimePoint> read_heartbeat(const SessionFiles& files) {
  struct stat st {};
  if (::lstat(files.heartbeat().c_str(), &st) != 0) {
    if (errno == ENOENT) return std::nullopt;
    throw Error(Errc::io_error, fmt::format("{}: {}", files.heartbeat().string(), std::strerror(errno)));
  }
  // Only the container's own file is its sign of life; a link's target is someone else's.
  if (!S_ISREG(st.st_mode)) return std::nullopt;
  using namespace std::chrono;
  auto since_epoch = seconds{st.st_mtim.tv_sec} + nanoseconds{st.st_mtim.tv_nsec};
  return TimePoint{duration_cast<milliseconds>(since_epoch)};
}

HeartbeatRemoval remove_stale_heartbeat(const SessionFiles& files) {
  HeartbeatRemoval out;
  const auto path = files.heartbeat();
  // unlink(2) never follows the last component and never removes a directory.
  if (::unlink(path.c_str()) == 0) {
    out.removed = true;
    return out;
  }
  const int error = errno;
  if (error == ENOENT) return out;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    out.problem = fmt::format("{} is a directory: left in place", path.string());
  } else {
    out.problem = fmt::format("{}: {}", path.string(), std::strerror(error));
  }
  return out;
}

}  // namespace hostsweep::store
