#pragma once
// Internal: the session files' schemas (PROTOCOL.md) and the in-place upgrade of older
// inbound.db files.

#include <SQLiteCpp/SQLiteCpp.h>

namespace hostsweep::store::detail {

// Both create their tables and indexes if missing and set journal_mode=DELETE.
void create_inbound_schema(SQLite::Database& db);
void create_outbound_schema(SQLite::Database& db);

// Adds the columns older files lack (series_id backfilled from id, trigger, source_session_id,
// on_wake) in one transaction. Throws Error(corrupt_file) when there is no messages_in table.
void upgrade_inbound_schema(SQLite::Database& db);

}  // namespace hostsweep::store::detail
