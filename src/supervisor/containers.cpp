// Containers: started under the lock a check handed over, adopted when a dead supervisor left
// one, signalled only as the kernel identifies them, and awaited until nothing of them is left.
// What happens to them is the machine's decision; this is how.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "supervisor_impl.hpp"

namespace hostsweep::supervisor {

runtime::ContainerSpec Supervisor::Impl::container_spec(const Session& s) const {
  std::error_code ec;
  auto data_dir = std::filesystem::absolute(data_.root(), ec);
  return {.session_dir = s.files.dir().string(),
          .session_id = s.id,
          .agent_group_id = s.agent_group_id,
          .container_name = runtime::container_name(s.agent_group_id, s.id),
          .install_id = instance_->install_id,
          .data_dir = ec ? std::string() : data_dir.lexically_normal().string()};
}

// Runs a cgroup operation on the home executor: a failure (the kernel refused, a file vanished)
// is reported, once per distinct error, never thrown into the caller's loop. False when it failed.
template <typename F>
bool Supervisor::Impl::cgroup_step(Session& s, F&& step) {
  try {
    step();
    return true;
  } catch (const Error& e) {
    if (s.last_os_error != e.what()) {
      s.last_os_error = e.what();
      emit_for(s, EventKind::session_error, s.last_os_error);
    }
    return false;
  }
}

void Supervisor::Impl::start_container(Session& s) {
  auto lock = std::move(*s.handed_lock);
  s.handed_lock.reset();
  auto spec = container_spec(s);
  std::error_code ec;
  std::unique_ptr<runtime::ChildProcess> child;
  std::optional<os::Cgroup> cgroup;
  std::unique_ptr<runtime::ContainerOutput> output;
  std::string failure;
  try {
    runtime::SpawnOptions spawn{.uid = options_.run_as_uid, .gid = options_.run_as_gid};
    if (options_.run_as_uid) {
      store::hand_over_session(s.files, *options_.run_as_uid, options_.run_as_gid.value_or(::getgid()));
    }
    os::UniqueFd cgroup_dir;
    if (cgroups_) {
      cgroup = cgroups_->container(s.agent_group_id, s.id);
      if (cgroup->populated()) {
        // Processes of an earlier container, whose supervisor died before it recorded them.
        adopt_orphan(s, std::move(lock), os::HolderRecord{.started_at = clock_->wall_now(), .cgroup = cgroup->path()});
        return;
      }
      cgroup->create();
      cgroup_dir = cgroup->open_directory();
      spawn.cgroup_fd = cgroup_dir.get();
    }
    output = open_output(s);
    spawn.stdout_fd = output->child_stdout();
    spawn.stderr_fd = output->child_stderr();
    child = runtime::ChildProcess::start(home_, runtime::start_command(options_.runtime, spec), spawn, ec);
    if (!child) failure = fmt::format("cannot start the agent command: {}", ec.message());
  } catch (const Error& e) {
    failure = e.what();
  }
  if (!child) {
    if (cgroup) cgroup_step(s, [&] { cgroup->remove(); });
    emit_for(s, EventKind::container_start_failed, failure);
    feed(s, policy::event::StartFailed{failure});
    return;  // the lock is released here
  }
  s.child = std::move(child);
  s.cgroup = std::move(cgroup);
  s.output = std::move(output);
  s.output->start();
  s.started_at = clock_->wall_now();
  ++s.generation;
  // What a supervisor that outlives us (after a crash) needs to find this container, kept where
  // the container cannot write.
  auto identity = os::identify(s.child->pid());
  os::HolderRecord record{.container = identity ? *identity : os::ProcessIdentity{s.child->pid(), 0},
                          .started_at = s.started_at,
                          .supervisor = self_,
                          .cgroup = s.cgroup ? s.cgroup->path() : std::filesystem::path{}};
  try {
    os::write_holder_record(s.files.holder_record(), record);
  } catch (const Error& e) {
    emit_for(s, EventKind::session_error, e.what());
  }
  s.lock = std::move(lock);
  watch_cgroup(s);
  Event started{.kind = EventKind::container_started, .session_id = s.id, .pid = s.child->pid()};
  if (auto due = std::exchange(s.start_due_since, std::nullopt)) {
    // Woken by scheduled work: how long after it came due (metrics' due_to_start).
    started.reason = "scheduled";
    started.late_by = std::max(Duration{0}, s.started_at - *due);
  }
  emit(std::move(started));
  s.child->async_wait([weak = weak_from_this(), id = s.id, generation = s.generation](std::error_code wait_ec,
                                                                                        runtime::ExitStatus status) {
    if (wait_ec) return;
    if (auto self = weak.lock()) self->on_exit(id, generation, status);
  });
  feed(s, policy::event::Started{});
}

// The container's first process has exited and is not reaped yet: its process group's id
// cannot name anyone else, so the group (or the whole cgroup) is killed first, then it is
// reaped. The container has ended once nothing of it is left.
//
// First, what its pipes hold is read (bounded, one turn of the loop), so that the stderr tail
// in container.exited has its last words.
void Supervisor::Impl::on_exit(const std::string& id, std::uint64_t generation, runtime::ExitStatus status) {
  Session* found = find(id);
  if (!found || found->generation != generation || !found->child) return;
  if (!found->output) return on_exit_drained(id, generation, status);
  found->output->drain([weak = weak_from_this(), id, generation, status] {
    if (auto self = weak.lock()) self->on_exit_drained(id, generation, status);
  });
}

void Supervisor::Impl::on_exit_drained(const std::string& id, std::uint64_t generation, runtime::ExitStatus status) {
  Session* found = find(id);
  if (!found || found->generation != generation || !found->child) return;
  Session& s = *found;
  s.stderr_tail = s.output ? s.output->stderr_tail() : std::string();
  if (s.output && !s.output->sink_error().empty()) emit_for(s, EventKind::session_error, s.output->sink_error());
  emit({.kind = EventKind::container_exited,
        .session_id = s.id,
        .pid = s.child->pid(),
        .exit = status,
        .stderr_tail = s.stderr_tail});
  if (s.cgroup) cgroup_step(s, [&] { s.cgroup->kill(); });
  else s.child->signal_group(SIGKILL);
  s.child->reap();
  s.child.reset();
  s.ending = true;
  feed(s, policy::event::Exited{status.describe(), status.clean()});
  await_end(s);
}

// A dead supervisor's container that still lives: stopped under the session lock, and cleaned
// up once it has ended. It is signalled only as the kernel identifies it: its cgroup (this
// session's own, whatever the record says), or its first process through a pidfd checked
// against the recorded start time (FAILURE-MODES.md 11).
void Supervisor::Impl::adopt_orphan(Session& s, os::SessionLock lock, const os::HolderRecord& record) {
  std::string why_not;
  if (!record.cgroup.empty()) {
    if (!cgroups_ || record.cgroup != cgroups_->container(s.agent_group_id, s.id).path()) {
      feed(s, policy::event::AdoptRefused{
                  fmt::format("its holder record names cgroup {}, which is not this session's", record.cgroup.string())});
      return;
    }
    s.cgroup = cgroups_->container(s.agent_group_id, s.id);
    s.ending = true;  // no first process of ours: the container has ended when its cgroup is empty
  } else {
    auto leader = os::Pidfd::open_verified(record.container, why_not);
    if (!leader) {
      // Gone since the check looked: nothing to stop, only the cleanup.
      s.lock = std::move(lock);
      s.ending = true;
      container_ended(s);
      return;
    }
    s.orphan_leads_group = os::process_group_of(record.container.pid) == record.container.pid &&
                           os::may_signal_group(record.container.pid);
    auto exit = std::make_unique<asio::posix::stream_descriptor>(home_, ::dup(leader->fd()));
    s.orphan_leader = std::move(leader);
    s.orphan_leader_exit = std::move(exit);
  }
  s.lock = std::move(lock);
  s.orphan = record;
  s.started_at = record.started_at;
  ++s.generation;
  watch_cgroup(s);
  if (s.orphan_leader_exit) {
    s.orphan_leader_exit->async_wait(
        asio::posix::stream_descriptor::wait_read,
        [weak = weak_from_this(), id = s.id, generation = s.generation](boost::system::error_code ec) {
          if (ec) return;
          auto self = weak.lock();
          if (!self) return;
          Session* found = self->find(id);
          if (!found || found->generation != generation) return;
          found->ending = true;
          self->feed(*found, policy::event::Exited{"the adopted container's first process ended", false});
          self->await_end(*found);
        });
  }
  feed(s, policy::event::Adopted{fmt::format(
              "left by supervisor pid {}", record.supervisor.pid ? std::to_string(record.supervisor.pid) : "unknown")});
  if (s.ending) await_end(s);
}

// The first stage of a stop: the runtime's stop command where it has one (docker stop), else
// SIGTERM to the container.
void Supervisor::Impl::terminate_container(Session& s) {
  auto stop = s.child ? runtime::stop_command(options_.runtime, container_spec(s), options_.kill_grace) : std::nullopt;
  if (stop) run_stopper(s, *stop);
  else signal_container(s, SIGTERM);
}

// Ours or adopted: the signal reaches the container and nothing else. With a cgroup, every
// process in it (KILL through cgroup.kill); without, the process group of our own unreaped
// child, or of a verified orphan leader that still leads its group (else the leader alone).
void Supervisor::Impl::signal_container(Session& s, int signal) {
  if (s.cgroup) {
    cgroup_step(s, [&] {
      if (signal == SIGKILL) s.cgroup->kill();
      else s.cgroup->signal_all(signal);
    });
  } else if (s.child) {
    s.child->signal_group(signal);
  } else if (s.orphan_leader && !s.orphan_leader->exited()) {
    if (s.orphan_leads_group) ::kill(-s.orphan_leader->pid(), signal);
    else s.orphan_leader->send_signal(signal);
  }
}

// The runtime's stop command (docker stop): waited for and reaped, never left a zombie.
void Supervisor::Impl::run_stopper(Session& s, const std::vector<std::string>& argv) {
  std::error_code ec;
  auto stopper = runtime::ChildProcess::start(home_, argv, {}, ec);
  if (!stopper) {
    emit_for(s, EventKind::session_error, fmt::format("cannot run {}: {}", argv.front(), ec.message()));
    signal_container(s, SIGTERM);
    return;
  }
  auto* raw = stopper.get();
  s.stoppers.push_back(std::move(stopper));
  raw->async_wait([weak = weak_from_this(), id = s.id, raw](std::error_code wait_ec, runtime::ExitStatus) {
    if (wait_ec) return;
    auto self = weak.lock();
    if (!self) return;
    if (Session* found = self->find(id)) {
      auto& list = found->stoppers;
      auto it = std::find_if(list.begin(), list.end(), [raw](const auto& p) { return p.get() == raw; });
      if (it != list.end()) {
        (*it)->reap();
        list.erase(it);
      }
    }
  });
}

// Waits until nothing of the container is left: its cgroup empty (watched), or its orphan
// leader exited.
void Supervisor::Impl::await_end(Session& s) {
  if (!s.ending || s.child || (s.orphan_leader && !s.orphan_leader->exited())) return;  // their exits call back
  bool populated = false;
  bool unreadable = s.cgroup && !cgroup_step(s, [&] { populated = s.cgroup->populated(); });
  if (populated || unreadable) {
    // inotify tells when cgroup.events changes (watch_cgroup); a poll stands in where it cannot.
    if (!s.cgroup_watched || unreadable) {
      if (!s.end_poll) s.end_poll = std::make_unique<asio::steady_timer>(home_);
      s.end_poll->expires_after(std::chrono::milliseconds(50));
      s.end_poll->async_wait([weak = weak_from_this(), id = s.id](boost::system::error_code ec) {
        if (ec) return;
        auto self = weak.lock();
        if (!self) return;
        if (Session* found = self->find(id)) self->await_end(*found);
      });
    }
    return;
  }
  container_ended(s);
}

void Supervisor::Impl::container_ended(Session& s) {
  if (!s.ending) return;
  s.ending = false;
  if (s.end_poll) s.end_poll->cancel();
  // Nothing of the container is left, but an escaped grandchild may still hold its pipes: they
  // are read a little longer, then closed (the object finishes on its own).
  if (s.output) {
    s.output->close_after(options_.container_log.drain);
    s.output.reset();
  }
  os::remove_holder_record(s.files.holder_record());
  if (s.cgroup) {
    unwatch_cgroup(s);
    cgroup_step(s, [&] { s.cgroup->remove(); });
    s.cgroup.reset();
  }
  s.orphan.reset();
  s.orphan_leader.reset();
  s.orphan_leader_exit.reset();
  feed(s, policy::event::Ended{});
}

// A container's cgroup.events is watched under its session's id, from its creation (each
// container's cgroup is a new file) until its removal.
void Supervisor::Impl::watch_cgroup(Session& s) {
  s.cgroup_watched = false;
  if (!s.cgroup || !cgroup_watcher_ || !cgroup_watcher_->is_open()) return;
  s.cgroup_watched = !cgroup_watcher_->add(s.id, *s.cgroup);
}

void Supervisor::Impl::unwatch_cgroup(Session& s) {
  if (s.cgroup_watched && cgroup_watcher_) cgroup_watcher_->remove(s.id);
  s.cgroup_watched = false;
}

// cgroup.events changed: perhaps a container's last process has gone.
void Supervisor::Impl::on_cgroup_changed(const std::string& id) {
  if (Session* s = find(id)) await_end(*s);
}

// Containers get cgroups of their own when the host allows it. Limits that cannot be applied
// are an error here (CgroupTree::open throws), never dropped.
void Supervisor::Impl::open_cgroups() {
  std::string why_not;
  cgroups_ = os::CgroupTree::open(options_.cgroup, instance_->install_id, options_.limits, why_not);
  if (!cgroups_) {
    emit({.kind = EventKind::containment_reduced,
          .reason = why_not,
          .detail = "containers run in process groups without a cgroup: a process that leaves its group "
                    "(setsid) outlives its container"});
    return;
  }
  try {
    cgroup_watcher_.emplace(
        home_,
        [weak = weak_from_this()](const std::string& id) {
          if (auto self = weak.lock()) self->on_cgroup_changed(id);
        },
        [weak = weak_from_this()] {
          auto self = weak.lock();
          if (!self) return;
          for (auto& [id, session] : self->sessions_) self->await_end(*session);
        });
  } catch (const Error& e) {
    // await_end polls instead.
    emit({.kind = EventKind::watch_unavailable, .reason = e.what(), .detail = "a container's end is polled"});
  }
}

// At the first registry load no container of this data directory is ours yet, so processes
// left in its cgroups belong to a supervisor that died. A registered session's are stopped by
// its own checks (its record, or its populated cgroup, before any start); those of sessions no
// longer registered are killed here.
void Supervisor::Impl::kill_unregistered_leftovers() {
  if (!cgroups_) return;
  std::vector<os::Cgroup> leftovers;
  try {
    leftovers = cgroups_->populated();
  } catch (const Error& e) {
    emit({.kind = EventKind::session_error, .reason = e.what()});
  }
  for (const auto& leftover : leftovers) {
    if (sessions_.count(leftover.session_id())) continue;
    emit({.kind = EventKind::container_killed,
          .session_id = leftover.session_id(),
          .reason = "orphan",
          .detail = "left in " + leftover.path().string() + " by a supervisor that died; the session is no longer registered"});
    try {
      leftover.kill();
    } catch (const Error& e) {
      emit({.kind = EventKind::session_error, .session_id = leftover.session_id(), .reason = e.what()});
    }
  }
}

}  // namespace hostsweep::supervisor
