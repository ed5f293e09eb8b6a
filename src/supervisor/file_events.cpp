// File events: inotify on each session directory and on the registry's directory. A change
// that matters is a trigger for the session's machine; an overflow re-checks everything.
#include "supervisor_impl.hpp"

namespace hostsweep::supervisor {
namespace {

// The registry is watched under a key no session id can take (ids have no spaces).
constexpr const char* kRegistryKey = " registry";

// Which names matter: commits (SQLite's journal comes and goes with each write transaction),
// and the heartbeat. Not inbound.db itself: this process opens it read-write for every check,
// and closing it would re-trigger the check forever (FAILURE-MODES.md 18). Not the lock file,
// for the same reason.
bool is_commit(const std::string& name) {
  return name == "outbound.db" || name == "outbound.db-journal" || name == "inbound.db-journal";
}
constexpr const char* kHeartbeat = ".heartbeat";

}  // namespace

void Supervisor::Impl::start_watching() {
  try {
    watcher_.emplace(
        home_,
        [weak = weak_from_this()](const std::string& key, const std::vector<std::string>& names) {
          if (auto self = weak.lock()) self->on_files_changed(key, names);
        },
        [weak = weak_from_this()] {
          if (auto self = weak.lock()) self->on_watch_overflow();
        },
        options_.max_watches);
  } catch (const Error& e) {
    emit({.kind = EventKind::watch_unavailable, .reason = e.what(), .detail = "every session is polled at the sweep"});
    return;
  }
  if (auto ec = watcher_->add(kRegistryKey, data_.root())) {
    emit({.kind = EventKind::watch_unavailable, .reason = ec.message(), .detail = "new sessions are found at the sweep"});
  }
}

void Supervisor::Impl::watch(Session& s) {
  if (!watcher_ || !watcher_->is_open()) return;
  auto ec = watcher_->add(s.id, s.files.dir());
  s.watched = !ec;
  // Logged once: at the kernel's watch limit every further session would say the same.
  if (ec && !reported_watch_limit_) {
    reported_watch_limit_ = true;
    emit({.kind = EventKind::watch_unavailable,
          .session_id = s.id,
          .reason = ec.message(),
          .detail = "this and further unwatched sessions are polled at each sweep"});
  }
}

void Supervisor::Impl::on_files_changed(const std::string& key, const std::vector<std::string>& names) {
  if (key == kRegistryKey) {
    for (const auto& name : names) {
      // Commits only (the journal comes and goes): opening the file is no change.
      if (name == "hostsweep.db-journal") return reload_registry(false);
    }
    return;
  }
  Session* s = find(key);
  if (!s) return;
  if (!names.empty() && names.front().empty()) {
    s->watched = false;  // the directory went away: the registry says whether the session did
    publish(*s);
    return reload_registry(false);
  }
  bool heartbeat = false;
  for (const auto& name : names) {
    if (is_commit(name)) return feed(*s, policy::event::Triggered{});
    heartbeat = heartbeat || name == kHeartbeat;
  }
  if (heartbeat) on_heartbeat(*s);
}

// A touch of the heartbeat costs an lstat and a deadline move, not a check (at 10,000 sessions
// each beating every second, a check each was a pass per heartbeat). Only our running container's
// heartbeat says anything; an lstat of a file in a local directory does not block the loop.
void Supervisor::Impl::on_heartbeat(Session& s) {
  if (s.state.stage != policy::Stage::running) return;
  ++counters_.heartbeats;
  std::optional<TimePoint> mtime;
  try {
    mtime = store::read_heartbeat(s.files);
  } catch (const Error&) {
    // Not a sign of life; the next check reports why it cannot be read.
  }
  feed(s, policy::event::HeartbeatTouched{.mtime = mtime, .at = clock_->steady_now()});
}

void Supervisor::Impl::on_watch_overflow() {
  emit({.kind = EventKind::watch_overflow,
        .detail = watcher_ && watcher_->is_open() ? "events were lost: every session is checked"
                                                  : "the watcher failed: sessions are polled at each sweep"});
  if (watcher_ && !watcher_->is_open()) {
    for (auto& [id, s] : sessions_) {
      s->watched = false;
      publish(*s);
    }
  }
  sweep();
}

}  // namespace hostsweep::supervisor
