// The registry and the sweep: sessions new in the registry are added, removed ones retired;
// a sweep checks every session, a slice at a time.
#include "supervisor_impl.hpp"

namespace hostsweep::supervisor {

// request_check() from outside: a session not known yet may have been created since the last
// listing (with no watch on the registry, or before its event arrived), so the registry is read
// again before the id is called unknown.
void Supervisor::Impl::check_requested(const std::string& id) {
  if (Session* s = find(id)) return feed(*s, policy::event::Triggered{});
  if (!instance_) {
    emit({.kind = EventKind::session_unknown, .session_id = id, .reason = "the supervisor has not started"});
    return;
  }
  if (stopping_) {
    emit({.kind = EventKind::session_unknown, .session_id = id, .reason = "not known, and the supervisor is stopping"});
    return;
  }
  // Answered by a listing read after this request: the one asked for now, or a later one.
  reload_registry(false);
  requested_unknown_.emplace_back(id, registry_reads_asked_);
}

// After listing `read` has been reconciled (or could not be read): the ids asked for before it
// was read are checked (unless the walk just did), or said to be unknown.
void Supervisor::Impl::resolve_requested_checks(std::uint64_t read, const std::string& why_unknown) {
  std::vector<std::pair<std::string, std::uint64_t>> later;
  for (auto& [id, asked] : std::exchange(requested_unknown_, {})) {
    if (asked > read) {
      later.emplace_back(std::move(id), asked);
    } else if (Session* s = find(id)) {
      if (!s->state.check_in_flight) feed(*s, policy::event::Triggered{});
    } else {
      emit({.kind = EventKind::session_unknown, .session_id = id, .reason = why_unknown});
    }
  }
  requested_unknown_ = std::move(later);
}

// Re-reads the registry: new sessions are added (and checked), removed ones retired. With
// `check_all`, every session is checked too: that is the sweep.
void Supervisor::Impl::reload_registry(bool check_all) {
  if (stopping_) return;
  // A read queued that has not begun reads the registry after this request, so it answers this
  // one too: a burst of reloads (commits, control-socket requests) costs one read, not one each.
  if (!check_all && registry_read_queued_->load()) return;
  registry_read_queued_->store(true);
  const std::uint64_t read = ++registry_reads_asked_;
  struct Listing {
    std::map<std::string, store::Session> sessions;
    std::vector<Error> errors;  // the registry's, or one per bad row (FAILURE-MODES.md 20)
    bool unreadable = false;
  };
  on_pool(
      registry_strand_,
      [data = data_, queued = registry_read_queued_] {
        queued->store(false);  // begun: a request from now on needs a read of its own
        // Indexed here, on the pool: with 10,000 sessions that is milliseconds the caller's loop keeps.
        Listing out;
        try {
          auto listing = store::list_sessions_checked(data, true);
          for (auto& session : listing.sessions) {
            std::string id = session.record.id;
            out.sessions.emplace(std::move(id), std::move(session));
          }
          out.errors = std::move(listing.bad_rows);
        } catch (const Error& e) {
          out.errors.push_back(e);
          out.unreadable = true;
        }
        return out;
      },
      [check_all, read](Impl& self, Listing listing) {
        self.on_registry(std::move(listing.sessions), std::move(listing.errors), listing.unreadable, check_all, read);
      });
}

// `unreadable`: the registry as a whole could not be read (the sessions known stay as they are).
void Supervisor::Impl::on_registry(std::map<std::string, store::Session> listed, std::vector<Error> errors,
                                   bool unreadable, bool check_all, std::uint64_t read) {
  ++counters_.registry_reloads;
  // Each distinct error once, not at every reload; the good rows are supervised regardless.
  std::set<std::string> current;
  for (const auto& e : errors) {
    current.insert(e.what());
    if (!reported_registry_errors_.count(e.what())) emit({.kind = EventKind::session_error, .reason = e.what()});
  }
  reported_registry_errors_ = std::move(current);
  if (unreadable) {
    resolve_requested_checks(read, "the registry cannot be read" +
                                       (errors.empty() ? std::string() : std::string(": ") + errors.front().what()));
    if (check_all) check_in_slices(std::nullopt);
    return;
  }
  // A walk still under way is superseded by this newer listing, which covers all it would have
  // done; a sweep it owed is owed by this one.
  walk_check_all_ = walk_check_all_ || check_all;
  auto walk = std::make_shared<RegistryWalk>(
      RegistryWalk{.listed = std::move(listed), .check_all = walk_check_all_, .generation = ++registry_generation_, .read = read});
  reconcile_slice(std::move(walk), std::nullopt);
}

// Sessions new in the registry are added (and checked, unless a sweep checks everything);
// sessions gone from it are retired. Both maps are ordered by id: one walk finds both, a slice
// of ids at a time, each slice its own handler (the first listing of 10,000 sessions, made in
// one handler, held the caller's loop for about 120 ms).
static constexpr std::size_t kSessionsPerSlice = 128;

void Supervisor::Impl::reconcile_slice(std::shared_ptr<RegistryWalk> walk, std::optional<std::string> after) {
  if (walk->generation != registry_generation_ || stopping_) {
    if (stopping_) resolve_requested_checks(registry_reads_asked_, "not known, and the supervisor is stopping");
    asio::post(pool_, [unused = std::move(walk)] {});  // superseded: freed off the loop
    return;
  }
  auto& listed = walk->listed;
  auto next = after ? listed.upper_bound(*after) : listed.begin();
  auto known = after ? sessions_.upper_bound(*after) : sessions_.begin();
  std::vector<std::string> added;
  std::vector<std::string> removed;
  std::vector<std::pair<std::string, bool>> pause_changed;  // (id, paused) where the registry differs
  for (std::size_t n = 0; next != listed.end() && n < kSessionsPerSlice; ++next, ++n) {
    auto& [id, listed_session] = *next;
    while (known != sessions_.end() && known->first < id) removed.push_back((known++)->first);
    const bool paused = listed_session.record.paused();
    if (known != sessions_.end() && known->first == id) {
      if (known->second->state.paused != paused) pause_changed.emplace_back(id, paused);
      ++known;
      continue;
    }
    // Inserted before `known`, which stays valid: the walk goes on from there.
    auto session = std::make_unique<Session>(asio::make_strand(pool_.get_executor()), std::move(listed_session));
    emit_for(*session, EventKind::session_added);
    watch(*session);
    publish(*session);
    sessions_.emplace(id, std::move(session));
    added.push_back(id);
    if (paused) pause_changed.emplace_back(id, true);  // before its first check, which then starts nothing
  }
  const bool finished = next == listed.end();
  if (finished) {
    while (known != sessions_.end()) removed.push_back((known++)->first);
  }
  // Fed after the walk: a removed session may be forgotten at once.
  for (const auto& id : removed) {
    if (Session* s = find(id)) feed(*s, policy::event::Removed{});
  }
  for (const auto& [id, paused] : pause_changed) {
    if (Session* s = find(id)) {
      if (paused) feed(*s, policy::event::Paused{});
      else feed(*s, policy::event::Resumed{});
    }
  }
  if (!walk->check_all) {
    for (const auto& id : added) request_check(id);
  }
  if (finished) return reconcile_done(std::move(walk));
  ++jobs_;
  asio::post(home_, [weak = weak_from_this(), walk = std::move(walk), last = std::prev(next)->first]() mutable {
    if (auto self = weak.lock()) {
      --self->jobs_;
      self->reconcile_slice(std::move(walk), last);
      self->maybe_finish_stop();
    }
  });
}

void Supervisor::Impl::reconcile_done(std::shared_ptr<RegistryWalk> walk) {
  walk_check_all_ = false;
  resolve_requested_checks(walk->read, "no such session in the registry");
  if (!leftovers_checked_) {
    leftovers_checked_ = true;
    kill_unregistered_leftovers();
  }
  if (walk->check_all) check_in_slices(std::nullopt);
  // What is left of the listing is freed on the pool: at 10,000 sessions, milliseconds.
  asio::post(pool_, [unused = std::move(walk)] {});
}

// A sweep dispatches its checks a slice at a time, each slice its own handler, so that the
// caller's loop never runs one long handler (10,000 sessions at once held it for tens of ms);
// and never more than a window of them waits in the database pool, so that a cleanup or a
// start queued meanwhile runs behind a few checks, not behind thousands (issue 13). A slice
// resumes after the last id it checked: sessions added or forgotten meanwhile are fine.
static constexpr std::size_t kChecksPerSlice = 256;
static constexpr int kSweepWindow = 16;

void Supervisor::Impl::check_in_slices(std::optional<std::string> after) {
  if (!after) sweep_ = SweepTally{.id = sweep_.id + 1, .started = clock_->steady_now()};
  auto it = after ? sessions_.upper_bound(*after) : sessions_.begin();
  std::size_t examined = 0;
  std::string last;
  for (; it != sessions_.end() && examined < kChecksPerSlice && sweep_.outstanding < kSweepWindow; ++it, ++examined) {
    last = it->first;
    request_check(last);
    // Counted when the trigger started a check (or found one running, which reports at least
    // as new a state): a session backing off or held elsewhere runs none now.
    Session* s = find(last);
    if (s && s->state.check_in_flight && s->awaited_by_sweep != sweep_.id) {
      s->awaited_by_sweep = sweep_.id;
      ++sweep_.outstanding;
    }
  }
  sweep_.checked += static_cast<int>(examined);
  if (it != sessions_.end() && !stopping_) {
    if (examined == 0 || sweep_.outstanding >= kSweepWindow) {
      // Resumed by sweep_check_returned once the pool has drained.
      sweep_.paused_after = examined ? last : after.value_or(std::string{});
    } else {
      continue_sweep_later(std::move(last));
    }
    return;
  }
  sweep_.handed_out = true;
  arm_sweep_timer();
  maybe_complete_sweep();
}

void Supervisor::Impl::continue_sweep_later(std::string after) {
  ++jobs_;
  asio::post(home_, [weak = weak_from_this(), after = std::move(after), id = sweep_.id] {
    if (auto self = weak.lock()) {
      --self->jobs_;
      if (self->sweep_.id == id) self->check_in_slices(after);
      self->maybe_finish_stop();
    }
  });
}

// A check returned, or its session was forgotten: one fewer for the sweep that awaited it.
void Supervisor::Impl::sweep_check_returned(Session& s) {
  if (s.awaited_by_sweep == 0) return;
  if (std::exchange(s.awaited_by_sweep, 0) != sweep_.id) return;
  --sweep_.outstanding;
  // (Stopping too: the resumed sweep then hands out nothing more, and completes.)
  if (sweep_.paused_after && sweep_.outstanding <= kSweepWindow / 2) {
    continue_sweep_later(*std::exchange(sweep_.paused_after, std::nullopt));
  }
}

void Supervisor::Impl::maybe_complete_sweep() {
  if (!sweep_.handed_out || sweep_.outstanding > 0 || sweep_.said) return;
  sweep_.said = true;
  const auto took = std::chrono::duration_cast<Duration>(clock_->steady_now() - sweep_.started);
  emit({.kind = EventKind::sweep_completed, .sessions = sweep_.checked, .duration = took});
}

void Supervisor::Impl::arm_sweep_timer() {
  if (stopping_) return;
  sweep_timer_->arm_after(options_.sweep_interval, [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->sweep();
  });
}

}  // namespace hostsweep::supervisor
