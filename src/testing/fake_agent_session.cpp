#include "fake_agent_session.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "fake_agent_script.hpp"
#include "hostsweep/error.hpp"

namespace hostsweep::fake_agent {
namespace {

constexpr int kBusyTimeoutMs = 5000;  // the reference container's value

SQLite::Database open_read_only(const std::filesystem::path& path) {
  return SQLite::Database(path, SQLite::OPEN_READONLY, kBusyTimeoutMs);
}

// Never OPEN_CREATE: the host creates the session files, and a missing one is its bug.
SQLite::Database open_read_write(const std::filesystem::path& path) {
  return SQLite::Database(path, SQLite::OPEN_READWRITE, kBusyTimeoutMs);
}

bool has_table(SQLite::Database& db, const char* table) {
  SQLite::Statement q(db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?");
  q.bind(1, table);
  return q.executeStep();
}

std::optional<std::string> optional_text(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getString();
}

void bind_optional(SQLite::Statement& q, int index, const std::optional<std::string>& value) {
  if (value) q.bind(index, *value);
  else q.bind(index);
}

// The largest integer seq of a table; rows whose seq is NULL or not an integer (odd data)
// do not count, so that max() never compares text with numbers.
std::int64_t max_seq(SQLite::Database& db, const char* table) {
  auto value = db.execAndGet(fmt::format("SELECT max(seq) FROM {} WHERE typeof(seq) = 'integer'", table));
  return value.isNull() ? 0 : value.getInt64();
}

// A reply id no row of messages_out has yet: reply-<id>, then reply-<id>-2, -3, ...
std::string free_reply_id(SQLite::Database& db, const std::string& message_id) {
  SQLite::Statement exists(db, "SELECT 1 FROM messages_out WHERE id = ?");
  std::string base = "reply-" + message_id;
  std::string candidate = base;
  for (int n = 2;; ++n) {
    exists.bind(1, candidate);
    bool taken = exists.executeStep();
    exists.reset();
    if (!taken) return candidate;
    candidate = fmt::format("{}-{}", base, n);
  }
}

std::string reply_content(const InboundMessage& m, std::string_view ack_status, std::string_view behavior) {
  return fmt::format(R"({{"text":{},"status":{},"behavior":{},"pid":{}}})",
                     json_quote("fake-agent reply to " + m.id), json_quote(ack_status), json_quote(behavior),
                     ::getpid());
}

Error io_error(const std::filesystem::path& path, std::string_view what, int err) {
  return Error(Errc::io_error, fmt::format("{}: {} ({})", path.string(), what, std::strerror(err)));
}

// Closes a file descriptor on every path out of a scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::int64_t next_odd_seq(std::int64_t max_seq) {
  if (max_seq < 1) return 1;
  if (max_seq > std::numeric_limits<std::int64_t>::max() - 2) {
    throw Error(Errc::io_error, fmt::format("seq {} leaves no room for a reply", max_seq));
  }
  return max_seq % 2 == 0 ? max_seq + 1 : max_seq + 2;
}

std::uint64_t ContainerSide::count_start() const {
  auto path = files_.dir() / ".fake-agent-starts";
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (fd.get() < 0) throw io_error(path, "cannot open the start counter", errno);
  if (::flock(fd.get(), LOCK_EX) != 0) throw io_error(path, "cannot lock the start counter", errno);
  char buf[32] = {};
  ssize_t got = ::pread(fd.get(), buf, sizeof buf - 1, 0);
  if (got < 0) throw io_error(path, "cannot read the start counter", errno);
  std::uint64_t starts = 0;
  std::string_view text(buf, static_cast<std::size_t>(got));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), starts);
  if (ec != std::errc{} || end != text.data() + text.size()) starts = 0;
  ++starts;
  auto out = fmt::format("{}\n", starts);
  if (::ftruncate(fd.get(), 0) != 0) throw io_error(path, "cannot rewrite the start counter", errno);
  if (::pwrite(fd.get(), out.data(), out.size(), 0) != static_cast<ssize_t>(out.size())) {
    throw io_error(path, "cannot write the start counter", errno);
  }
  return starts;  // closing the file releases the lock
}

std::optional<std::string> ContainerSide::read_script() const {
  auto path = files_.dir() / ".fake-agent";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error(path, "cannot read the behavior script", errno);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void ContainerSide::check_outbound() const {
  std::error_code ec;
  if (!std::filesystem::exists(files_.outbound(), ec)) {
    throw Error(Errc::not_found, fmt::format("{}: missing; the host must create it before starting a container",
                                             files_.outbound().string()));
  }
  try {
    auto db = open_read_only(files_.outbound());
    if (!has_table(db, "processing_ack")) {
      throw Error(Errc::corrupt_file, fmt::format("{}: no processing_ack table; the host must create the full schema",
                                                  files_.outbound().string()));
    }
  } catch (const SQLite::Exception& e) {
    throw Error(Errc::corrupt_file, fmt::format("{}: unusable ({})", files_.outbound().string(), e.what()));
  }
}

int ContainerSide::delete_leftover_claims() const {
  auto db = open_read_write(files_.outbound());
  SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
  int deleted = db.exec("DELETE FROM processing_ack WHERE status = 'processing'");
  txn.commit();
  return deleted;
}

std::vector<InboundMessage> ContainerSide::due_messages(TimePoint now) const {
  std::vector<InboundMessage> due;
  auto db = open_read_only(files_.inbound());
  SQLite::Statement q(db, R"sql(
    SELECT id, "trigger", process_after, platform_id, channel_type, thread_id
    FROM messages_in WHERE status = 'pending' AND id IS NOT NULL ORDER BY seq, id)sql");
  while (q.executeStep()) {
    auto process_after = q.getColumn(2);
    if (!process_after.isNull()) {
      // Compared as instants: the two timestamp forms and any offsets do not sort as text.
      auto when = policy::parse_timestamp(process_after.getString());
      if (when && *when > now) continue;
    }
    InboundMessage m;
    m.id = q.getColumn(0).getString();
    m.trigger = q.getColumn(1).getInt64() == 1;
    m.platform_id = optional_text(q.getColumn(3));
    m.channel_type = optional_text(q.getColumn(4));
    m.thread_id = optional_text(q.getColumn(5));
    due.push_back(std::move(m));
  }
  return due;
}

std::vector<InboundMessage> ContainerSide::claim(const std::vector<InboundMessage>& due) const {
  std::vector<InboundMessage> claimed;
  if (due.empty()) return claimed;
  auto db = open_read_write(files_.outbound());
  // Checked and claimed under one write lock, so no one else's claim can slip in between.
  SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
  std::set<std::string> acked;
  SQLite::Statement acks(db, "SELECT message_id FROM processing_ack WHERE message_id IS NOT NULL");
  while (acks.executeStep()) acked.insert(acks.getColumn(0).getString());
  bool any_trigger = false;
  for (const auto& m : due) {
    if (!acked.count(m.id)) any_trigger = any_trigger || m.trigger;
  }
  if (!any_trigger) return claimed;  // rolled back: nothing was written

  SQLite::Statement insert(
      db, "INSERT INTO processing_ack (message_id, status, status_changed) VALUES (?, 'processing', datetime('now'))");
  for (const auto& m : due) {
    if (acked.count(m.id)) continue;
    insert.bind(1, m.id);
    insert.exec();
    insert.reset();
    acked.insert(m.id);  // a duplicate id in odd data is claimed once
    claimed.push_back(m);
  }
  txn.commit();
  return claimed;
}

std::vector<Reply> ContainerSide::finish(const std::vector<InboundMessage>& claimed, std::string_view ack_status,
                                         std::string_view behavior) const {
  std::vector<Reply> replies;
  if (claimed.empty()) return replies;
  std::int64_t inbound_max = 0;
  {
    auto in = open_read_only(files_.inbound());
    inbound_max = max_seq(in, "messages_in");
  }
  auto db = open_read_write(files_.outbound());
  SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
  std::int64_t seq = next_odd_seq(std::max(inbound_max, max_seq(db, "messages_out")));
  SQLite::Statement update(
      db, "UPDATE processing_ack SET status = ?, status_changed = datetime('now') WHERE message_id = ?");
  // Our claim is normally there; should it have vanished, the result is still recorded.
  SQLite::Statement insert_ack(
      db, "INSERT INTO processing_ack (message_id, status, status_changed) VALUES (?, ?, datetime('now'))");
  SQLite::Statement insert_reply(db, R"sql(
    INSERT INTO messages_out (id, seq, in_reply_to, timestamp, kind, platform_id, channel_type, thread_id, content)
    VALUES (?, ?, ?, ?, 'chat', ?, ?, ?, ?))sql");
  auto timestamp = policy::format_iso8601(policy::now_utc());
  for (const auto& m : claimed) {
    update.bind(1, std::string(ack_status));
    update.bind(2, m.id);
    if (update.exec() == 0) {
      insert_ack.bind(1, m.id);
      insert_ack.bind(2, std::string(ack_status));
      insert_ack.exec();
      insert_ack.reset();
    }
    update.reset();

    Reply r{m.id, free_reply_id(db, m.id), seq};
    insert_reply.bind(1, r.reply_id);
    insert_reply.bind(2, r.seq);
    insert_reply.bind(3, m.id);
    insert_reply.bind(4, timestamp);
    bind_optional(insert_reply, 5, m.platform_id);
    bind_optional(insert_reply, 6, m.channel_type);
    bind_optional(insert_reply, 7, m.thread_id);
    insert_reply.bind(8, reply_content(m, ack_status, behavior));
    insert_reply.exec();
    insert_reply.reset();
    replies.push_back(std::move(r));
    if (&m != &claimed.back()) seq = next_odd_seq(seq);
  }
  txn.commit();
  return replies;
}

bool ContainerSide::declare_tool(std::string_view tool, Duration declared_timeout, TimePoint now) const {
  auto db = open_read_write(files_.outbound());
  SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
  if (!has_table(db, "container_state")) return false;
  SQLite::Statement q(db, R"sql(
    INSERT INTO container_state (id, current_tool, tool_declared_timeout_ms, tool_started_at, updated_at)
    VALUES (1, ?, ?, ?, ?)
    ON CONFLICT(id) DO UPDATE SET current_tool = excluded.current_tool,
      tool_declared_timeout_ms = excluded.tool_declared_timeout_ms,
      tool_started_at = excluded.tool_started_at, updated_at = excluded.updated_at)sql");
  auto when = policy::format_iso8601(now);
  q.bind(1, std::string(tool));
  q.bind(2, static_cast<std::int64_t>(declared_timeout.count()));
  q.bind(3, when);
  q.bind(4, when);
  q.exec();
  txn.commit();
  return true;
}

void ContainerSide::clear_tool(TimePoint now) const {
  auto db = open_read_write(files_.outbound());
  SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
  if (!has_table(db, "container_state")) return;
  SQLite::Statement q(
      db, "UPDATE container_state SET current_tool = NULL, tool_declared_timeout_ms = NULL, updated_at = ? WHERE id = 1");
  q.bind(1, policy::format_iso8601(now));
  q.exec();
  txn.commit();
}

void ContainerSide::touch_heartbeat() const {
  auto path = files_.heartbeat();
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (fd.get() < 0) throw io_error(path, "cannot open the heartbeat", errno);
  if (::futimens(fd.get(), nullptr) != 0) throw io_error(path, "cannot touch the heartbeat", errno);
}

}  // namespace hostsweep::fake_agent
