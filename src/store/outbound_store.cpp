#include "hostsweep/store/outbound_store.hpp"

#include <set>
#include <string>

#include "schema.hpp"
#include "sqlite.hpp"

namespace hostsweep::store {

using detail::Access;
using detail::guarded;

OutboundSnapshot read_outbound(const SessionFiles& files) {
  OutboundSnapshot snapshot;
  std::error_code ec;
  if (!std::filesystem::exists(files.outbound(), ec)) return snapshot;
  auto db = detail::open_unverified(files.outbound(), Access::read_only);
  guarded(files.outbound(), [&] {
    // One read transaction: one snapshot of what the container wrote, one lock cycle. Its
    // first read of the schema is also what notices a file that is not a database.
    SQLite::Transaction read(db, SQLite::TransactionBehavior::DEFERRED);
    std::set<std::string> tables;
    SQLite::Statement list(db, "SELECT name FROM sqlite_schema WHERE type = 'table'");
    while (list.executeStep()) tables.insert(list.getColumn(0).getString());
    snapshot.exists = true;
    snapshot.complete = tables.count("messages_out") && tables.count("processing_ack") && tables.count("session_state") &&
                        tables.count("container_state");
    if (tables.count("processing_ack")) {
      SQLite::Statement q(db, "SELECT message_id, status, status_changed FROM processing_ack");
      while (q.executeStep()) {
        snapshot.acks.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(), q.getColumn(2).getString()});
      }
    }
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
  });
  return snapshot;
}

int delete_orphan_claims(const SessionFiles& files, const std::vector<std::string>& message_ids,
                         const os::SessionLock& /*held*/) {
  if (message_ids.empty()) return 0;
  auto db = detail::open_database(files.outbound(), Access::read_write);
  return guarded(files.outbound(), [&] {
    SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement del(db, "DELETE FROM processing_ack WHERE message_id = ? AND status = 'processing'");
    int deleted = 0;
    for (const auto& id : message_ids) {
      del.bind(1, id);
      deleted += del.exec();
      del.reset();
    }
    txn.commit();
    return deleted;
  });
}

void ensure_outbound(const SessionFiles& files, const os::SessionLock& /*held*/) {
  auto db = detail::open_database(files.outbound(), Access::create);
  guarded(files.outbound(), [&] { detail::create_outbound_schema(db); });
}

}  // namespace hostsweep::store
