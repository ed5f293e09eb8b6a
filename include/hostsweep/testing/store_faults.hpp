#pragma once
// A fault injector for the store, for tests: while a StoreFaults lives, the N-th store
// operation that matches one of its rules fails with the error the rule chose, in this whole
// process (every thread, every connection the store opens: session files and the registry),
// so that each error path can be driven on real SQLite files. The error comes out of the store
// as it would from a real disk: a hostsweep::Error naming the file ("disk I/O error", "database
// or disk is full", "still locked by another process after 5000 ms", ...).
//
//   using namespace hostsweep::testing;
//   StoreFaults faults;
//   auto commit = faults.add(StoreFault(StoreOp::commit, StoreError::io_error)
//                                .where_file_contains("/s1/inbound.db")
//                                .on_call(1)
//                                .times(1));
//   ...  // the next sync of s1's inbound.db (or its journal) fails, and with it that COMMIT;
//        // then all is normal again
//   EXPECT_EQ(commit.fired(), 1);
//
// Only the process's own store is affected, never another process (a container) on the same
// files. Faults are injected below SQLite, in the store's VFS (src/store/sqlite.cpp): with no
// StoreFaults alive, the store pays one relaxed atomic load per file it opens, nothing more. A
// file opened while one is alive asks the current rules at each operation until it is closed;
// one opened before is not affected (the store's connections are short-lived: each operation
// opens its own).
//
// Thread-safety: every member may be called from any thread; rules are counted under one mutex,
// taken by the store's operations only while a StoreFaults lives. Only one StoreFaults may be
// alive at a time.

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace hostsweep::testing {

namespace detail {
struct FaultRuleState;  // a rule and its counters, shared with the store's hook
}  // namespace detail

// What can be made to fail, and which SQLite file method that is. Each is counted per call of
// that method on a file the rule's filter matches; a database and its rollback journal
// ("<path>-journal") are both files, and SQLite retries some calls (a busy lock) by itself.
enum class StoreOp {
  open,    // opening a database or journal file (xOpen)
  read,    // a read of a file (xRead)
  write,   // a write to a file (xWrite): a transaction's pages, at its commit
  commit,  // a sync of a file (xSync), which a COMMIT waits on: the journal's (one or two),
           // then the database's; a failure at any of them fails the COMMIT
  lock,    // taking or raising a file lock (xLock): each read and each write transaction
};

// The errors, and the ops each fits (others are refused with Error(invalid_argument)):
//
//   io_error   every op: SQLITE_IOERR, SQLITE_IOERR_READ, _WRITE, _FSYNC, _LOCK as fits the op
//   busy       lock: SQLITE_BUSY. The store's busy handler retries for its 5 s, so a rule
//              that fires fewer times than that is waited out; one that keeps firing is the
//              store's "still locked" error
//   full       write, commit: SQLITE_FULL (a full disk)
//   cantopen   open: SQLITE_CANTOPEN
//   corrupt    read: SQLITE_CORRUPT (what SQLite says of a page it cannot make sense of)
enum class StoreError { io_error, busy, full, cantopen, corrupt };

// "open", "read", "write", "commit", "lock"; "io_error", "busy", ...: for messages.
const char* to_string(StoreOp op) noexcept;
const char* to_string(StoreError error) noexcept;

// One rule, as a value: built whole before StoreFaults::add, so that no database thread meets
// a rule half set up. By default it fails the next matching operation once.
class StoreFault {
 public:
  StoreFault(StoreOp op, StoreError error) : op_(op), error_(error) {}

  // The n-th matching operation (1 = the first after add()) is the first to fail. n >= 1.
  StoreFault& on_call(int n);
  // It and the k - 1 matching operations after it fail. k >= 1.
  StoreFault& times(int k);
  // It and every matching operation after it fail, until the StoreFaults goes.
  StoreFault& always();
  // Only files whose path (absolute, as SQLite opens it) contains `text`: "/s1/inbound.db"
  // matches that session's inbound.db and its journal. May be given with the one below.
  StoreFault& where_file_contains(std::string text);
  // Only files whose path ends with `text`: "/s1/inbound.db" matches the database alone.
  StoreFault& where_file_ends_with(std::string text);

  StoreOp op() const noexcept { return op_; }
  StoreError error() const noexcept { return error_; }
  int first_call() const noexcept { return on_call_; }
  int count() const noexcept { return times_; }  // 0: always
  const std::string& file_contains() const noexcept { return file_contains_; }
  const std::string& file_ends_with() const noexcept { return file_ends_with_; }

  // Whether a path matches the filters (both that are given).
  bool matches_file(std::string_view path) const noexcept;

 private:
  StoreOp op_;
  StoreError error_;
  int on_call_ = 1;
  int times_ = 1;
  std::string file_contains_;
  std::string file_ends_with_;
};

class StoreFaults {
 public:
  // A rule's counters, readable from any thread, also after the StoreFaults has gone.
  class Rule {
   public:
    // How many operations this rule has failed.
    int fired() const;
    // How many operations matched it (its op and file filters), failed or not.
    int seen() const;

   private:
    friend class StoreFaults;
    explicit Rule(std::shared_ptr<detail::FaultRuleState> state) : state_(std::move(state)) {}
    std::shared_ptr<detail::FaultRuleState> state_;
  };

  // Makes this the process's fault plan, with no rules yet. Throws hostsweep::Error
  // (invalid_argument) when another StoreFaults is alive.
  StoreFaults();
  // Removes every rule: an operation from then on runs normally. Never throws.
  ~StoreFaults();
  StoreFaults(const StoreFaults&) = delete;
  StoreFaults& operator=(const StoreFaults&) = delete;

  // Adds `rule`, which counts matching operations from now on. When two rules would fail the
  // same operation, the one added first does (the other counts it, as seen, all the same).
  // Throws hostsweep::Error (invalid_argument) for an error that does not fit the op.
  Rule add(const StoreFault& rule);

  // How many operations the rules have failed, in all.
  int fired() const;
};

}  // namespace hostsweep::testing
