#include "sweep/pass_memo.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "os/unique_fd.hpp"
#include "hostsweep/policy/timestamp.hpp"

namespace hostsweep::sweep {
namespace {

// The file: a magic line, the format, the payload's length and checksum, the payload.
constexpr std::string_view kMagic = "hostsweep pass memo\n";
constexpr std::uint32_t kFormat = 1;
constexpr std::size_t kHeaderBytes = kMagic.size() + 4 + 8 + 8;

// FNV-1a: the file is the host's own; this finds damage (a torn write after a crash), not forgery.
std::uint64_t checksum(std::string_view bytes) noexcept {
  std::uint64_t hash = 14695981039346656037ull;
  for (char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}

// Little-endian fields; strings and lists carry their length first.
class Writer {
 public:
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) { fixed(v, 4); }
  void u64(std::uint64_t v) { fixed(v, 8); }
  void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
  void i32(std::int32_t v) { u32(static_cast<std::uint32_t>(v)); }
  void str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
  }
  void opt_str(const std::optional<std::string>& s) {
    u8(s ? 1 : 0);
    if (s) str(*s);
  }
  std::string take() { return std::move(out_); }

 private:
  void fixed(std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string out_;
};

// Every read checks what is left; the first failure sticks, and the caller checks ok() once.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const noexcept { return ok_; }
  bool at_end() const noexcept { return in_.empty(); }
  void fail() noexcept { ok_ = false; }

  std::uint64_t fixed(int bytes) {
    if (!take(static_cast<std::size_t>(bytes))) return 0;
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= std::uint64_t{static_cast<unsigned char>(taken_[static_cast<std::size_t>(i)])} << (8 * i);
    return v;
  }
  std::uint8_t u8() { return static_cast<std::uint8_t>(fixed(1)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(fixed(4)); }
  std::uint64_t u64() { return fixed(8); }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  std::int32_t i32() { return static_cast<std::int32_t>(u32()); }
  bool flag() {
    auto v = u8();
    if (v > 1) ok_ = false;
    return v == 1;
  }
  std::string str() {
    auto n = u32();
    return take(n) ? std::string(taken_) : std::string{};
  }
  std::optional<std::string> opt_str() {
    if (!flag()) return std::nullopt;
    return str();
  }
  // A count of items of at least `min_item_bytes` each: never more than what is left could hold.
  std::size_t count(std::size_t min_item_bytes) {
    auto n = u32();
    if (n > in_.size() / min_item_bytes) ok_ = false;
    return ok_ ? n : 0;
  }
  template <typename Enum>
  Enum enumerator(Enum last) {
    auto v = u8();
    if (v > static_cast<std::uint8_t>(last)) ok_ = false;
    return static_cast<Enum>(ok_ ? v : 0);
  }

 private:
  bool take(std::size_t n) {
    if (!ok_ || in_.size() < n) {
      ok_ = false;
      taken_ = {};
      return false;
    }
    taken_ = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  std::string_view in_;
  std::string_view taken_;
  bool ok_ = true;
};

void write_version(Writer& w, const store::FileVersion& v) {
  w.u64(v.device);
  w.u64(v.inode);
  w.i64(v.size);
  w.i64(v.modified_ns);
  w.i64(v.status_changed_ns);
  w.u32(v.change_counter);
}

store::FileVersion read_version(Reader& r) {
  store::FileVersion v;
  v.device = r.u64();
  v.inode = r.u64();
  v.size = r.i64();
  v.modified_ns = r.i64();
  v.status_changed_ns = r.i64();
  v.change_counter = r.u32();
  return v;  // in_doubt stays false: a memo is never made of a version in doubt
}

void write_outbound(Writer& w, const store::OutboundSnapshot& o) {
  w.u8(o.exists);
  w.u8(o.complete);
  w.u32(static_cast<std::uint32_t>(o.acks.size()));
  for (const auto& ack : o.acks) {
    w.str(ack.message_id);
    w.u8(static_cast<std::uint8_t>(ack.status));
    w.str(ack.status_changed);
  }
  w.u8(o.tool ? 1 : 0);
  if (o.tool) {
    w.opt_str(o.tool->current_tool);
    w.u8(o.tool->declared_timeout_ms ? 1 : 0);
    if (o.tool->declared_timeout_ms) w.i64(*o.tool->declared_timeout_ms);
    w.opt_str(o.tool->tool_started_at);
    w.str(o.tool->updated_at);
  }
}

store::OutboundSnapshot read_outbound(Reader& r) {
  store::OutboundSnapshot o;
  o.exists = r.flag();
  o.complete = r.flag();
  const auto acks = r.count(4 + 1 + 4);
  o.acks.reserve(acks);
  for (std::size_t i = 0; i < acks && r.ok(); ++i) {
    policy::Ack ack;
    ack.message_id = r.str();
    ack.status = r.enumerator(policy::AckStatus::unknown);
    ack.status_changed = r.str();
    o.acks.push_back(std::move(ack));
  }
  if (r.flag()) {
    policy::ToolFact tool;
    tool.current_tool = r.opt_str();
    if (r.flag()) tool.declared_timeout_ms = r.i64();
    tool.tool_started_at = r.opt_str();
    tool.updated_at = r.str();
    o.tool = std::move(tool);
  }
  return o;
}

void write_inbound(Writer& w, const policy::InboundFacts& in) {
  w.u32(static_cast<std::uint32_t>(in.acked_messages.size()));
  for (const auto& [key, m] : in.acked_messages) {
    w.str(key);
    w.str(m.id);
    w.u8(static_cast<std::uint8_t>(m.status));
    w.i32(m.tries);
    w.opt_str(m.process_after);
    w.opt_str(m.recurrence);
  }
  w.u32(static_cast<std::uint32_t>(in.finished_recurring.size()));
  for (const auto& f : in.finished_recurring) {
    w.str(f.id);
    w.str(f.recurrence);
    w.u8(f.trigger);
  }
  w.u32(static_cast<std::uint32_t>(in.state.count_by_status.size()));
  for (const auto& [status, n] : in.state.count_by_status) {
    w.str(status);
    w.i32(n);
  }
  w.u32(static_cast<std::uint32_t>(in.state.pending.size()));
  for (const auto& p : in.state.pending) {
    w.str(p.id);
    w.u8(p.due_at ? 1 : 0);
    if (p.due_at) w.i64(p.due_at->time_since_epoch().count());
    w.u8(p.unreadable);
  }
}

policy::InboundFacts read_inbound(Reader& r) {
  policy::InboundFacts in;
  const auto acked = r.count(4 + 4 + 1 + 4 + 1 + 1);
  for (std::size_t i = 0; i < acked && r.ok(); ++i) {
    auto key = r.str();
    policy::MessageState m;
    m.id = r.str();
    m.status = r.enumerator(policy::MessageStatus::unknown);
    m.tries = r.i32();
    m.process_after = r.opt_str();
    m.recurrence = r.opt_str();
    if (!in.acked_messages.emplace(std::move(key), std::move(m)).second) r.fail();  // a key twice
  }
  const auto finished = r.count(4 + 4 + 1);
  for (std::size_t i = 0; i < finished && r.ok(); ++i) {
    policy::FinishedRecurring f;
    f.id = r.str();
    f.recurrence = r.str();
    f.trigger = r.flag();
    in.finished_recurring.push_back(std::move(f));
  }
  const auto statuses = r.count(4 + 4);
  for (std::size_t i = 0; i < statuses && r.ok(); ++i) {
    auto status = r.str();
    if (!in.state.count_by_status.emplace(std::move(status), r.i32()).second) r.fail();
  }
  const auto pending = r.count(4 + 1 + 1);
  in.state.pending.reserve(pending);
  for (std::size_t i = 0; i < pending && r.ok(); ++i) {
    policy::PendingTrigger p;
    p.id = r.str();
    if (r.flag()) p.due_at = TimePoint(Duration(r.i64()));
    p.unreadable = r.flag();
    in.state.pending.push_back(std::move(p));
  }
  return in;
}

// A memo file this process may read and write in place: a regular file of its own user, with
// one link, that no one else may write, not absurdly big.
bool own_memo_file(int fd, struct stat& st) {
  return ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() && st.st_nlink == 1 &&
         (st.st_mode & (S_IWGRP | S_IWOTH)) == 0 && st.st_size <= static_cast<off_t>(kMaxPassMemoBytes);
}

}  // namespace

PassMemo compact_acks(PassMemo memo) {
  if (memo.acks_compacted) return memo;
  std::vector<policy::Ack> kept;
  std::optional<policy::Ack> latest;
  std::optional<TimePoint> latest_at;
  for (auto& ack : memo.outbound.acks) {
    if (policy::ack_decides(ack.status, memo.inbound.acked_messages.count(ack.message_id) != 0)) {
      kept.push_back(std::move(ack));
      continue;
    }
    // As decide_stuck reads it; an unreadable time is never a sign of life there either.
    const auto at = policy::parse_timestamp_latest(ack.status_changed);
    if (at && (!latest_at || *at > *latest_at)) {
      latest_at = at;
      latest = std::move(ack);
    }
  }
  if (latest) kept.push_back(std::move(*latest));
  memo.outbound.acks = std::move(kept);
  memo.acks_compacted = true;
  return memo;
}

std::string encode_pass_memo(const PassMemo& memo) {
  Writer payload;
  write_version(payload, memo.outbound_version);
  write_version(payload, memo.inbound_version);
  write_outbound(payload, memo.outbound);
  write_inbound(payload, memo.inbound);
  payload.u8(memo.acks_compacted);
  const std::string body = payload.take();

  Writer header;
  header.u32(kFormat);
  header.u64(body.size());
  header.u64(checksum(body));
  std::string file(kMagic);
  file += header.take();
  file += body;
  return file;
}

std::optional<PassMemo> decode_pass_memo(std::string_view bytes) {
  if (bytes.size() < kHeaderBytes || bytes.substr(0, kMagic.size()) != kMagic) return std::nullopt;
  Reader header(bytes.substr(kMagic.size(), kHeaderBytes - kMagic.size()));
  const auto format = header.u32();
  const auto length = header.u64();
  const auto sum = header.u64();
  const std::string_view body = bytes.substr(kHeaderBytes);
  if (format != kFormat || length != body.size() || sum != checksum(body)) return std::nullopt;
  return decode_pass_memo_payload(body);
}

std::optional<PassMemo> decode_pass_memo_payload(std::string_view payload) {
  Reader r(payload);
  PassMemo memo;
  memo.outbound_version = read_version(r);
  memo.inbound_version = read_version(r);
  memo.outbound = read_outbound(r);
  memo.inbound = read_inbound(r);
  memo.acks_compacted = r.flag();
  if (!r.ok() || !r.at_end()) return std::nullopt;
  return memo;
}

std::shared_ptr<const PassMemo> load_pass_memo(const std::filesystem::path& file) noexcept {
  try {
    os::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    struct stat st {};
    if (!fd || !own_memo_file(fd.get(), st)) return nullptr;
    std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < bytes.size()) {
      ssize_t n = ::read(fd.get(), bytes.data() + got, bytes.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return nullptr;
      got += static_cast<std::size_t>(n);
    }
    auto memo = decode_pass_memo(bytes);
    return memo ? std::make_shared<const PassMemo>(std::move(*memo)) : nullptr;
  } catch (...) {
    return nullptr;  // allocation
  }
}

// Rewritten in place, not renamed over: a torn or half-written file fails its length or its
// checksum and is ignored, so atomicity buys nothing, and a new inode for every save is what
// made a first sweep over 10,000 sessions slow on ext4. Whatever is in the way that is not our
// own file (a symlink, a second link, a fifo) is unlinked, never written through.
bool save_pass_memo(const std::filesystem::path& file, const PassMemo& memo) noexcept {
  try {
    const std::string bytes = encode_pass_memo(memo);
    if (bytes.size() > kMaxPassMemoBytes) {
      ::unlink(file.c_str());
      return false;
    }
    struct stat st {};
    os::UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600));
    if (!fd || !own_memo_file(fd.get(), st)) {
      fd.reset();
      ::unlink(file.c_str());
      fd = os::UniqueFd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
      if (!fd) return false;
    }
    // Over the old bytes, then cut to size: no block is freed and allocated again for a memo
    // that stays the same size. Meanwhile the file's length disagrees with its header.
    std::size_t written = 0;
    while (written < bytes.size()) {
      ssize_t n = ::pwrite(fd.get(), bytes.data() + written, bytes.size() - written, static_cast<off_t>(written));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;  // new bytes over old ones: the checksum fails, it is ignored
      written += static_cast<std::size_t>(n);
    }
    return st.st_size <= static_cast<off_t>(bytes.size()) || ::ftruncate(fd.get(), static_cast<off_t>(bytes.size())) == 0;
  } catch (...) {
    return false;
  }
}

}  // namespace hostsweep::sweep
