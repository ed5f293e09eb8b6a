#include "store/inbound_store.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "schema.hpp"
#include "sqlite.hpp"

namespace hostsweep::store {
namespace {

using detail::Access;
using detail::guarded;

void bind_optional(SQLite::Statement& q, int index, const std::optional<std::string>& value) {
  if (value) q.bind(index, *value);
  else q.bind(index);
}

// "?, ?, ?" for n placeholders.
std::string placeholders(std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += i ? ", ?" : "?";
  return out;
}

std::map<std::string, policy::MessageState> read_states(SQLite::Database& db, const std::vector<std::string>& ids) {
  std::map<std::string, policy::MessageState> out;
  // Batches keep the statement under SQLite's parameter limit.
  constexpr std::size_t kBatch = 500;
  for (std::size_t start = 0; start < ids.size(); start += kBatch) {
    std::size_t n = std::min(kBatch, ids.size() - start);
    SQLite::Statement q(db, "SELECT id, coalesce(status, 'pending'), coalesce(tries, 0), process_after, recurrence FROM messages_in WHERE id IN (" +
                                placeholders(n) + ")");
    for (std::size_t i = 0; i < n; ++i) q.bind(static_cast<int>(i + 1), ids[start + i]);
    while (q.executeStep()) {
      policy::MessageState state;
      state.id = q.getColumn(0).getString();
      state.status = policy::parse_message_status(q.getColumn(1).getString());
      state.tries = q.getColumn(2).getInt();
      if (!q.getColumn(3).isNull()) state.process_after = q.getColumn(3).getString();
      if (!q.getColumn(4).isNull() && !q.getColumn(4).getString().empty()) state.recurrence = q.getColumn(4).getString();
      out.emplace(state.id, std::move(state));
    }
  }
  return out;
}

// The next even seq above every seq in the file (at least 2): the host writes even numbers.
std::int64_t next_even_seq(SQLite::Database& db) {
  std::int64_t max_seq = db.execAndGet("SELECT coalesce(max(seq), 0) FROM messages_in").getInt64();
  return max_seq < 2 ? 2 : (max_seq % 2 == 0 ? max_seq + 2 : max_seq + 1);
}

std::vector<policy::FinishedRecurring> read_finished_recurring_rows(SQLite::Database& db) {
  std::vector<policy::FinishedRecurring> rows;
  SQLite::Statement q(db, R"sql(
    SELECT id, recurrence, "trigger" = 1 FROM messages_in
    WHERE status IN ('completed', 'failed') AND recurrence IS NOT NULL AND recurrence != '')sql");
  while (q.executeStep()) {
    rows.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(), q.getColumn(2).getInt() != 0});
  }
  return rows;
}

policy::InboundState read_state_rows(SQLite::Database& db) {
  policy::InboundState state;
  SQLite::Statement counts(db, "SELECT coalesce(status, 'pending'), count(*) FROM messages_in GROUP BY 1");
  while (counts.executeStep()) state.count_by_status[counts.getColumn(0).getString()] = counts.getColumn(1).getInt();

  // Timestamps come in several textual forms, so due-ness is decided on parsed values, not by
  // comparing strings in SQL.
  SQLite::Statement pending(db, R"sql(
    SELECT id, process_after FROM messages_in
    WHERE coalesce(status, 'pending') = 'pending' AND "trigger" = 1)sql");
  while (pending.executeStep()) {
    policy::PendingTrigger row{pending.getColumn(0).getString(), std::nullopt, false};
    if (!pending.getColumn(1).isNull()) {
      row.due_at = policy::parse_timestamp(pending.getColumn(1).getString());
      row.unreadable = !row.due_at;
    }
    state.pending.push_back(std::move(row));
  }
  return state;
}

// The rows these acks can act on (policy::InboundFacts::acked_messages).
std::map<std::string, policy::MessageState> acted_on_rows(SQLite::Database& db, const std::vector<policy::Ack>& acks) {
  std::vector<std::string> ids;
  ids.reserve(acks.size());
  for (const auto& ack : acks) ids.push_back(ack.message_id);
  auto rows = read_states(db, ids);
  for (const auto& ack : acks) {
    auto row = rows.find(ack.message_id);
    if (row != rows.end() && ack.status != policy::AckStatus::processing && row->second.status != policy::MessageStatus::pending) {
      rows.erase(row);
    }
  }
  return rows;
}

// Inserts each planned series' next occurrence and clears its finished row's recurrence.
void write_fan_outs(SQLite::Database& db, const std::vector<policy::FanOut>& plan, TimePoint now) {
  SQLite::Statement insert(db, R"sql(
    INSERT INTO messages_in (id, seq, kind, timestamp, status, process_after, recurrence, series_id, tries,
                             "trigger", platform_id, channel_type, thread_id, content, source_session_id, on_wake)
    SELECT ?, ?, kind, ?, 'pending', ?, recurrence, coalesce(series_id, id), 0,
           "trigger", platform_id, channel_type, thread_id, content, source_session_id, on_wake
    FROM messages_in WHERE id = ?)sql");
  SQLite::Statement clear(db, "UPDATE messages_in SET recurrence = NULL WHERE id = ?");
  for (const auto& f : plan) {
    if (f.next) {
      insert.bind(1, generate_id("msg", now));
      insert.bind(2, next_even_seq(db));
      insert.bind(3, policy::format_iso8601(now));
      insert.bind(4, policy::format_iso8601(*f.next));
      insert.bind(5, f.message_id);
      insert.exec();
      insert.reset();
    }
    clear.bind(1, f.message_id);
    clear.exec();
    clear.reset();
  }
}

}  // namespace

// Every open upgrades an older schema first (PROTOCOL.md: the host adds the missing columns
// "when it opens such a file"); a current file is not written. Reads need it too: on an old
// file, a query naming "trigger" would silently compare a string. The upgrade check reads the
// schema, which is also what notices a file that is not a database.
struct InboundDb::Impl {
  std::filesystem::path path;
  SQLite::Database db;

  explicit Impl(const SessionFiles& files)
      : path(files.inbound()), db(detail::open_unverified(path, Access::read_write)) {
    guarded(path, [&] { detail::upgrade_inbound_schema(db); });
  }

  template <typename Work>
  auto run(Work&& work) -> decltype(work(db)) {
    return guarded(path, [&] { return std::forward<Work>(work)(db); });
  }
};

InboundDb::InboundDb(const SessionFiles& files) : impl_(std::make_unique<Impl>(files)) {}
InboundDb::~InboundDb() = default;
InboundDb::InboundDb(InboundDb&&) noexcept = default;
InboundDb& InboundDb::operator=(InboundDb&&) noexcept = default;

Enqueued InboundDb::enqueue(const NewMessage& message, TimePoint now) {
  if (message.content.empty()) throw Error(Errc::invalid_argument, "message content must not be empty");
  if (message.kind.empty()) throw Error(Errc::invalid_argument, "message kind must not be empty");
  std::string id = message.id.value_or(generate_id("msg", now));
  if (id.empty() || id.size() > 256) throw Error(Errc::invalid_argument, "message id must be 1-256 characters");

  return impl_->run([&](SQLite::Database& db) {
    SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement exists(db, "SELECT 1 FROM messages_in WHERE id = ?");
    exists.bind(1, id);
    if (exists.executeStep()) {
      throw Error(Errc::already_exists, fmt::format("message id \"{}\" is already in {}", id, impl_->path.string()));
    }
    std::int64_t seq = next_even_seq(db);

    SQLite::Statement insert(db, R"sql(
      INSERT INTO messages_in (id, seq, kind, timestamp, status, process_after, recurrence, series_id, tries,
                               "trigger", platform_id, channel_type, thread_id, content, on_wake)
      VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, 0, ?, ?, ?, ?, ?, 0))sql");
    insert.bind(1, id);
    insert.bind(2, seq);
    insert.bind(3, message.kind);
    insert.bind(4, policy::format_iso8601(now));
    bind_optional(insert, 5, message.process_after ? std::optional(policy::format_iso8601(*message.process_after)) : std::nullopt);
    bind_optional(insert, 6, message.recurrence);
    insert.bind(7, id);
    insert.bind(8, message.trigger ? 1 : 0);
    bind_optional(insert, 9, message.platform_id);
    bind_optional(insert, 10, message.channel_type);
    bind_optional(insert, 11, message.thread_id);
    insert.bind(12, message.content);
    insert.exec();
    txn.commit();
    return Enqueued{id, seq};
  });
}

InboundSummary summarize(const InboundState& state, TimePoint now) {
  InboundSummary summary;
  summary.count_by_status = state.count_by_status;
  for (const auto& row : state.pending) {
    if (row.unreadable) summary.unreadable_ids.push_back(row.id);
    if (!row.due_at || *row.due_at <= now) {
      summary.due_ids.push_back(row.id);
      if (row.due_at && (!summary.due_since || *row.due_at > *summary.due_since)) summary.due_since = *row.due_at;
    } else if (!summary.next_due || *row.due_at < *summary.next_due) {
      summary.next_due = *row.due_at;
    }
  }
  return summary;
}

InboundState InboundDb::read_state() {
  return impl_->run([&](SQLite::Database& db) {
    // One read transaction: one consistent snapshot, and one lock cycle for both queries.
    SQLite::Transaction snapshot(db, SQLite::TransactionBehavior::DEFERRED);
    auto state = read_state_rows(db);
    snapshot.commit();
    return state;
  });
}

policy::InboundFacts InboundDb::read_facts(const std::vector<policy::Ack>& acks) {
  return impl_->run([&](SQLite::Database& db) {
    SQLite::Transaction snapshot(db, SQLite::TransactionBehavior::DEFERRED);
    policy::InboundFacts facts;
    if (!acks.empty()) facts.acked_messages = acted_on_rows(db, acks);
    facts.finished_recurring = read_finished_recurring_rows(db);
    facts.state = read_state_rows(db);
    snapshot.commit();
    return facts;
  });
}

std::vector<std::string> InboundDb::pending_ids() {
  return impl_->run([&](SQLite::Database& db) {
    std::vector<std::string> ids;
    SQLite::Statement q(db, "SELECT id FROM messages_in WHERE coalesce(status, 'pending') = 'pending'");
    while (q.executeStep()) ids.push_back(q.getColumn(0).getString());
    return ids;
  });
}

std::map<std::string, policy::MessageState> InboundDb::message_states(const std::vector<std::string>& ids) {
  if (ids.empty()) return {};
  return impl_->run([&](SQLite::Database& db) { return read_states(db, ids); });
}

std::vector<policy::Settlement> InboundDb::settle_acks(const std::vector<policy::Ack>& acks) {
  std::vector<std::string> ids;
  for (const auto& ack : acks) {
    if (ack.status == policy::AckStatus::completed || ack.status == policy::AckStatus::failed) ids.push_back(ack.message_id);
  }
  if (ids.empty()) return {};
  // Acks stay in outbound.db after they are settled: most calls find nothing new, and must not
  // take the write lock to learn it.
  return settle(policy::decide_settlements(acks, message_states(ids)));
}

std::vector<policy::Settlement> InboundDb::settle(const std::vector<policy::Settlement>& planned) {
  if (planned.empty()) return {};
  return impl_->run([&](SQLite::Database& db) {
    SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
    std::vector<std::string> ids;
    for (const auto& s : planned) ids.push_back(s.message_id);
    const auto rows = read_states(db, ids);  // again, under the lock
    std::vector<policy::Settlement> applied;
    SQLite::Statement update(db, "UPDATE messages_in SET status = ? WHERE id = ? AND coalesce(status, 'pending') = 'pending'");
    for (const auto& s : planned) {
      auto row = rows.find(s.message_id);
      if (row == rows.end() || row->second.status != policy::MessageStatus::pending) continue;
      update.bind(1, policy::to_string(s.status));
      update.bind(2, s.message_id);
      update.exec();
      update.reset();
      applied.push_back(s);
    }
    txn.commit();
    return applied;
  });
}

std::vector<policy::PlannedRetry> InboundDb::retry_orphans(const std::vector<std::string>& message_ids,
                                                           const policy::RetryPolicy& policy, TimePoint now) {
  if (message_ids.empty()) return {};
  return impl_->run([&](SQLite::Database& db) {
    SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
    auto states = read_states(db, message_ids);
    std::vector<policy::PlannedRetry> out;
    SQLite::Statement retry(db, "UPDATE messages_in SET tries = ?, process_after = ? WHERE id = ?");
    SQLite::Statement fail(db, "UPDATE messages_in SET status = 'failed' WHERE id = ?");
    for (const auto& id : message_ids) {
      auto state = states.find(id);
      if (state == states.end()) continue;
      auto decision = policy::decide_retry(policy, state->second, now);
      if (decision.action == policy::RetryAction::retry) {
        retry.bind(1, decision.new_tries);
        retry.bind(2, policy::format_iso8601(decision.process_after));
        retry.bind(3, id);
        retry.exec();
        retry.reset();
      } else if (decision.action == policy::RetryAction::fail) {
        fail.bind(1, id);
        fail.exec();
        fail.reset();
      }
      out.push_back({id, std::move(decision)});
    }
    txn.commit();
    return out;
  });
}

std::vector<policy::FinishedRecurring> InboundDb::finished_recurring() {
  return impl_->run([&](SQLite::Database& db) { return read_finished_recurring_rows(db); });
}

std::vector<policy::FanOut> InboundDb::fan_out_recurrences(const date::time_zone& zone, TimePoint now) {
  return impl_->run([&](SQLite::Database& db) {
    // A cheap read first: most checks find nothing, and must not take the write lock for it.
    if (read_finished_recurring_rows(db).empty()) return std::vector<policy::FanOut>{};
    SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
    auto plan = policy::plan_fan_out(read_finished_recurring_rows(db), zone, now);
    write_fan_outs(db, plan, now);
    txn.commit();
    return plan;
  });
}

std::vector<policy::FanOut> InboundDb::fan_out(const std::vector<policy::FanOut>& planned, const date::time_zone& zone,
                                               TimePoint now) {
  if (planned.empty()) return {};
  return impl_->run([&](SQLite::Database& db) {
    SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
    const auto finished = read_finished_recurring_rows(db);
    std::vector<policy::FinishedRecurring> rows;  // the planned ones still finished and recurring, in the plan's order
    for (const auto& f : planned) {
      auto row = std::find_if(finished.begin(), finished.end(), [&](const auto& r) { return r.id == f.message_id; });
      if (row != finished.end()) rows.push_back(*row);
    }
    auto plan = policy::plan_fan_out(rows, zone, now);
    write_fan_outs(db, plan, now);
    txn.commit();
    return plan;
  });
}

void InboundDb::retry_failed(const std::string& message_id) {
  impl_->run([&](SQLite::Database& db) {
    // Checked under the write lock: a row another writer changes meanwhile is never reset.
    SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement q(db, "SELECT coalesce(status, 'pending') FROM messages_in WHERE id = ?");
    q.bind(1, message_id);
    if (!q.executeStep()) {
      throw Error(Errc::not_found, fmt::format("no message \"{}\" in {}", message_id, impl_->path.string()));
    }
    const std::string status = q.getColumn(0).getString();
    if (status != "failed") {
      throw Error(Errc::invalid_argument,
                  fmt::format("message \"{}\" is {}, not failed: only a failed message can be retried", message_id, status));
    }
    SQLite::Statement update(
        db, "UPDATE messages_in SET status = 'pending', tries = 0, process_after = NULL WHERE id = ? AND status = 'failed'");
    update.bind(1, message_id);
    update.exec();
    txn.commit();
  });
}

// One call, one connection: the free functions open, work and close.

Enqueued enqueue(const SessionFiles& files, const NewMessage& message, TimePoint now) {
  return InboundDb(files).enqueue(message, now);
}

InboundSummary summarize_inbound(const SessionFiles& files, TimePoint now) { return InboundDb(files).summarize(now); }

std::optional<MessageInfo> find_message(const SessionFiles& files, const std::string& id) {
  auto states = InboundDb(files).message_states({id});
  auto found = states.find(id);
  if (found == states.end()) return std::nullopt;
  const auto& state = found->second;
  return MessageInfo{state.id, policy::to_string(state.status), state.tries, state.process_after};
}

std::map<std::string, policy::MessageState> read_message_states(const SessionFiles& files,
                                                                const std::vector<std::string>& ids) {
  if (ids.empty()) return {};
  return InboundDb(files).message_states(ids);
}

std::vector<policy::Settlement> settle_acks(const SessionFiles& files, const std::vector<policy::Ack>& acks) {
  if (acks.empty()) return {};
  return InboundDb(files).settle_acks(acks);
}

std::vector<policy::PlannedRetry> retry_orphans(const SessionFiles& files, const std::vector<std::string>& message_ids,
                                                const policy::RetryPolicy& policy, TimePoint now) {
  if (message_ids.empty()) return {};
  return InboundDb(files).retry_orphans(message_ids, policy, now);
}

std::vector<policy::FinishedRecurring> read_finished_recurring(const SessionFiles& files) {
  return InboundDb(files).finished_recurring();
}

std::vector<policy::FanOut> fan_out_recurrences(const SessionFiles& files, const date::time_zone& zone, TimePoint now) {
  return InboundDb(files).fan_out_recurrences(zone, now);
}

void retry_failed(const SessionFiles& files, const std::string& message_id) { InboundDb(files).retry_failed(message_id); }

}  // namespace hostsweep::store
