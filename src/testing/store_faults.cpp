#include "hostsweep/testing/store_faults.hpp"

#include <sqlite3.h>

#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "hostsweep/error.hpp"
#include "store/fault_hook.hpp"

namespace hostsweep::testing {

namespace detail {

struct FaultRuleState {
  StoreFault rule;
  store::detail::FileOp op;
  int result_code;  // what the SQLite file method returns instead of running
  int seen = 0;     // under g_mutex, as is `fired`
  int fired = 0;
};

}  // namespace detail

namespace {

using store::detail::FileOp;

// The plan: at most one StoreFaults alive, and its rules, in the order added.
std::mutex g_mutex;
bool g_alive = false;
std::vector<std::shared_ptr<detail::FaultRuleState>> g_rules;

FileOp file_op(StoreOp op) {
  switch (op) {
    case StoreOp::open: return FileOp::open;
    case StoreOp::read: return FileOp::read;
    case StoreOp::write: return FileOp::write;
    case StoreOp::commit: return FileOp::sync;
    case StoreOp::lock: return FileOp::lock;
  }
  return FileOp::open;
}

// The SQLite result code a file method returns for `error`, or SQLITE_OK for an error it
// never returns (store_faults.hpp has the table).
int result_code(StoreOp op, StoreError error) {
  switch (error) {
    case StoreError::io_error:
      switch (op) {
        case StoreOp::open: return SQLITE_IOERR;
        case StoreOp::read: return SQLITE_IOERR_READ;
        case StoreOp::write: return SQLITE_IOERR_WRITE;
        case StoreOp::commit: return SQLITE_IOERR_FSYNC;
        case StoreOp::lock: return SQLITE_IOERR_LOCK;
      }
      return SQLITE_OK;
    case StoreError::busy: return op == StoreOp::lock ? SQLITE_BUSY : SQLITE_OK;
    case StoreError::full: return op == StoreOp::write || op == StoreOp::commit ? SQLITE_FULL : SQLITE_OK;
    case StoreError::cantopen: return op == StoreOp::open ? SQLITE_CANTOPEN : SQLITE_OK;
    case StoreError::corrupt: return op == StoreOp::read ? SQLITE_CORRUPT : SQLITE_OK;
  }
  return SQLITE_OK;
}

// The store's hook (store/fault_hook.hpp): every rule of `op` whose file matches counts the
// call; the first whose window it falls in fails it.
int on_file_op(FileOp op, const char* path) noexcept {
  try {
    const std::string_view file(path);
    std::lock_guard lock(g_mutex);
    int rc = SQLITE_OK;
    for (auto& r : g_rules) {
      if (r->op != op || !r->rule.matches_file(file)) continue;
      ++r->seen;
      const int first = r->rule.first_call();
      const bool in_window = r->seen >= first && (r->rule.count() == 0 || r->seen < first + r->rule.count());
      if (rc == SQLITE_OK && in_window) {
        ++r->fired;
        rc = r->result_code;
      }
    }
    return rc;
  } catch (...) {
    return SQLITE_OK;  // a mutex that cannot be taken: run the operation, never crash SQLite
  }
}

}  // namespace

const char* to_string(StoreOp op) noexcept {
  switch (op) {
    case StoreOp::open: return "open";
    case StoreOp::read: return "read";
    case StoreOp::write: return "write";
    case StoreOp::commit: return "commit";
    case StoreOp::lock: return "lock";
  }
  return "?";
}

const char* to_string(StoreError error) noexcept {
  switch (error) {
    case StoreError::io_error: return "io_error";
    case StoreError::busy: return "busy";
    case StoreError::full: return "full";
    case StoreError::cantopen: return "cantopen";
    case StoreError::corrupt: return "corrupt";
  }
  return "?";
}

StoreFault& StoreFault::on_call(int n) {
  if (n < 1) throw Error(Errc::invalid_argument, fmt::format("StoreFault::on_call({}): calls count from 1", n));
  on_call_ = n;
  return *this;
}

StoreFault& StoreFault::times(int k) {
  if (k < 1) throw Error(Errc::invalid_argument, fmt::format("StoreFault::times({}): at least 1 (or always())", k));
  times_ = k;
  return *this;
}

StoreFault& StoreFault::always() {
  times_ = 0;
  return *this;
}

StoreFault& StoreFault::where_file_contains(std::string text) {
  file_contains_ = std::move(text);
  return *this;
}

StoreFault& StoreFault::where_file_ends_with(std::string text) {
  file_ends_with_ = std::move(text);
  return *this;
}

bool StoreFault::matches_file(std::string_view path) const noexcept {
  if (!file_contains_.empty() && path.find(file_contains_) == std::string_view::npos) return false;
  return file_ends_with_.empty() || path.ends_with(file_ends_with_);
}

int StoreFaults::Rule::fired() const {
  std::lock_guard lock(g_mutex);
  return state_->fired;
}

int StoreFaults::Rule::seen() const {
  std::lock_guard lock(g_mutex);
  return state_->seen;
}

StoreFaults::StoreFaults() {
  std::lock_guard lock(g_mutex);
  if (g_alive) {
    throw Error(Errc::invalid_argument,
                "a StoreFaults is already alive: its rules are process-wide, so only one may exist at a time");
  }
  g_alive = true;
  g_rules.clear();
  store::detail::set_fault_hook(&on_file_op);
}

StoreFaults::~StoreFaults() {
  // The hook first: files opened from now on are not wrapped; those still open find no rule.
  store::detail::set_fault_hook(nullptr);
  std::lock_guard lock(g_mutex);
  g_rules.clear();
  g_alive = false;
}

StoreFaults::Rule StoreFaults::add(const StoreFault& rule) {
  const int rc = result_code(rule.op(), rule.error());
  if (rc == SQLITE_OK) {
    throw Error(Errc::invalid_argument, fmt::format("a store fault of {} cannot be {} (store_faults.hpp lists the "
                                                    "errors each op may fail with)",
                                                    to_string(rule.op()), to_string(rule.error())));
  }
  auto state = std::make_shared<detail::FaultRuleState>(
      detail::FaultRuleState{.rule = rule, .op = file_op(rule.op()), .result_code = rc});
  std::lock_guard lock(g_mutex);
  g_rules.push_back(state);
  return Rule(std::move(state));
}

int StoreFaults::fired() const {
  std::lock_guard lock(g_mutex);
  int total = 0;
  for (const auto& r : g_rules) total += r->fired;
  return total;
}

}  // namespace hostsweep::testing
