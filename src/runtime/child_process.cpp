#include "runtime/child_process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>

#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "os/process.hpp"
#include "os/unique_fd.hpp"

extern char** environ;

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace hostsweep::runtime {
namespace {

// The first executable `name` in PATH, or an empty path.
std::filesystem::path find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!dirs.empty()) {
    auto colon = dirs.find(':');
    std::string_view dir = dirs.substr(0, colon);
    dirs = colon == std::string_view::npos ? std::string_view{} : dirs.substr(colon + 1);
    std::filesystem::path candidate = std::filesystem::path(dir.empty() ? "." : std::string(dir)) / name;
    if (::access(candidate.c_str(), X_OK) == 0 && !std::filesystem::is_directory(candidate)) return candidate;
  }
  return {};
}

// Everything the child needs, built before the clone: between clone and exec the child of a
// multi-threaded process may only make system calls (another thread may hold the allocator's
// lock), so nothing there allocates or takes a lock.
struct ExecPlan {
  const char* exe = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  int error_fd = -1;  // close-on-exec pipe: the child writes errno here when it cannot exec
  const SpawnOptions* options = nullptr;
};

[[noreturn]] void exec_in_child(const ExecPlan& plan) {
  int err = 0;
  auto failed = [&] {
    err = errno;
    (void)!::write(plan.error_fd, &err, sizeof err);
    ::_exit(127);
  };
  // A process group of its own, so a stop reaches its grandchildren too.
  if (::setpgid(0, 0) != 0) failed();
  // Default dispositions and an empty mask, whatever the supervisor's are.
  struct sigaction default_action{};
  default_action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &default_action, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  int null = ::open("/dev/null", O_RDONLY);
  if (null < 0 || ::dup2(null, STDIN_FILENO) < 0) failed();
  if (null != STDIN_FILENO) ::close(null);
  // The output pipes' write ends (close-on-exec) become fds 1 and 2, which dup2 leaves open
  // across the exec; one that already is its target only loses its close-on-exec flag.
  auto redirect = [&](int fd, int target) {
    if (fd < 0) return;
    if (fd == target ? ::fcntl(fd, F_SETFD, 0) != 0 : ::dup2(fd, target) < 0) failed();
  };
  redirect(plan.options->stdout_fd, STDOUT_FILENO);
  redirect(plan.options->stderr_fd, STDERR_FILENO);
  if (plan.options->gid) {
    gid_t gid = *plan.options->gid;
    if (::setgroups(1, &gid) != 0 || ::setgid(gid) != 0) failed();
  }
  if (plan.options->uid && ::setuid(*plan.options->uid) != 0) failed();
  // Nothing of the supervisor's reaches the container: no lock, no database, no socket.
  if (plan.error_fd > 3) ::close_range(3, static_cast<unsigned>(plan.error_fd - 1), 0);
  ::close_range(static_cast<unsigned>(plan.error_fd + 1), ~0U, 0);
  ::execve(plan.exe, plan.argv, plan.envp);
  failed();
  ::_exit(127);  // not reached: failed() exits
}

// clone3 with the pidfd returned by the kernel at the spawn (no window in which the pid could
// name anything else) and, with a cgroup, CLONE_INTO_CGROUP. CLONE_VFORK: this thread waits
// until the child has exec'd or failed, so the error pipe has its answer when clone returns.
// Returns the pidfd, or -1 with errno set; ENOSYS where clone3 is unavailable (some seccomp
// filters).
int spawn_clone3(const ExecPlan& plan, pid_t& pid) {
  int pidfd = -1;
  clone_args args{};
  args.flags = CLONE_PIDFD | CLONE_VFORK;
  args.pidfd = static_cast<__u64>(reinterpret_cast<std::uintptr_t>(&pidfd));
  args.exit_signal = SIGCHLD;
  if (plan.options->cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<__u64>(static_cast<unsigned>(plan.options->cgroup_fd));
  }
  long rc = ::syscall(SYS_clone3, &args, sizeof args);
  if (rc < 0) return -1;
  if (rc == 0) exec_in_child(plan);
  pid = static_cast<pid_t>(rc);
  return pidfd;
}

// Where clone3 is filtered out: posix_spawn, then pidfd_open (safe: the child is ours and
// unreaped, so its pid cannot be reused meanwhile) and, with a cgroup, a move into it right
// after the exec (weaker: the child's first instructions run outside). No uid/gid change.
int spawn_fallback(const ExecPlan& plan, pid_t& pid) {
  if (plan.options->uid || plan.options->gid) {
    errno = ENOSYS;
    return -1;
  }
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attributes);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (plan.options->stdout_fd >= 0) posix_spawn_file_actions_adddup2(&actions, plan.options->stdout_fd, STDOUT_FILENO);
  if (plan.options->stderr_fd >= 0) posix_spawn_file_actions_adddup2(&actions, plan.options->stderr_fd, STDERR_FILENO);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  sigset_t all;
  sigset_t none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  int rc = ::posix_spawn(&pid, plan.exe, &actions, &attributes, plan.argv, plan.envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0) {
    errno = rc;
    return -1;
  }
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (plan.options->cgroup_fd >= 0) {
    os::UniqueFd procs(::openat(plan.options->cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC));
    std::string text = std::to_string(pid);
    if (!procs || ::write(procs.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      int saved = errno;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      if (pidfd >= 0) ::close(pidfd);
      errno = saved;
      return -1;
    }
  }
  return pidfd;
}

ExitStatus decode(const siginfo_t& info) {
  ExitStatus exit;
  if (info.si_code == CLD_EXITED) exit.exit_code = info.si_status;
  else exit.signal = info.si_status;
  return exit;
}

}  // namespace

std::string ExitStatus::describe() const {
  if (signal != 0) {
    const char* name = ::sigabbrev_np(signal);
    return name ? fmt::format("signal {} (SIG{})", signal, name) : fmt::format("signal {}", signal);
  }
  return fmt::format("exit code {}", exit_code);
}

struct ChildProcess::Impl {
  Impl(boost::asio::any_io_executor executor, int fd) : pidfd(std::move(executor), fd) {}
  boost::asio::posix::stream_descriptor pidfd;
  bool reaped = false;
};

ChildProcess::ChildProcess(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ChildProcess::~ChildProcess() {
  if (!impl_) return;
  // An exited child is collected now; a live one is left to run (the owner chose not to kill
  // it), and is reaped by init once this process is gone.
  siginfo_t info{};
  if (!impl_->reaped) ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(impl_->pidfd.native_handle()), &info, WEXITED | WNOHANG);
}

std::unique_ptr<ChildProcess> ChildProcess::start(boost::asio::any_io_executor executor,
                                                  const std::vector<std::string>& argv, const SpawnOptions& options,
                                                  std::error_code& error) {
  error.clear();
  if (argv.empty()) {
    error = std::make_error_code(std::errc::invalid_argument);
    return nullptr;
  }
  std::filesystem::path exe = argv[0];
  if (argv[0].find('/') == std::string::npos) {
    exe = find_in_path(argv[0]);
    if (exe.empty()) {
      error = std::make_error_code(std::errc::no_such_file_or_directory);
      return nullptr;
    }
  }
  std::vector<std::string> storage(argv);
  std::vector<char*> raw;
  for (auto& a : storage) raw.push_back(a.data());
  raw.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    error = std::error_code(errno, std::system_category());
    return nullptr;
  }
  os::UniqueFd read_end(pipe_fds[0]);
  os::UniqueFd write_end(pipe_fds[1]);
  ExecPlan plan{exe.c_str(), raw.data(), environ, write_end.get(), &options};
  pid_t pid = -1;
  int pidfd = spawn_clone3(plan, pid);
  if (pidfd < 0 && errno == ENOSYS) pidfd = spawn_fallback(plan, pid);
  if (pidfd < 0) {
    error = std::error_code(errno, std::system_category());
    return nullptr;
  }
  write_end.reset();
  int child_errno = 0;
  if (::read(read_end.get(), &child_errno, sizeof child_errno) == sizeof child_errno) {
    siginfo_t info{};
    ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED);
    ::close(pidfd);
    error = std::error_code(child_errno, std::system_category());
    return nullptr;
  }
  auto child = std::unique_ptr<ChildProcess>(new ChildProcess(std::make_unique<Impl>(executor, pidfd)));
  child->pid_ = pid;
  return child;
}

void ChildProcess::async_wait(std::function<void(std::error_code, ExitStatus)> handler) {
  impl_->pidfd.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                          [this, handler = std::move(handler)](boost::system::error_code ec) {
                            if (ec) {
                              handler(ec == boost::asio::error::operation_aborted
                                          ? std::make_error_code(std::errc::operation_canceled)
                                          : std::error_code(ec.value(), std::system_category()),
                                      {});
                              return;
                            }
                            // WNOWAIT: how it ended, leaving it unreaped (see the header).
                            siginfo_t info{};
                            if (::waitid(static_cast<idtype_t>(P_PIDFD),
                                         static_cast<id_t>(impl_->pidfd.native_handle()), &info,
                                         WEXITED | WNOWAIT) != 0) {
                              handler(std::error_code(errno, std::system_category()), {});
                              return;
                            }
                            handler({}, decode(info));
                          });
}

void ChildProcess::signal(int signal) noexcept {
  if (impl_->reaped) return;
  ::syscall(SYS_pidfd_send_signal, impl_->pidfd.native_handle(), signal, nullptr, 0);
}

void ChildProcess::signal_group(int signal) noexcept {
  if (impl_->reaped || !os::may_signal_group(pid_)) return;
  ::kill(-pid_, signal);
}

void ChildProcess::reap() noexcept {
  if (impl_->reaped) return;
  siginfo_t info{};
  if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(impl_->pidfd.native_handle()), &info, WEXITED | WNOHANG) ==
          0 &&
      info.si_pid != 0) {
    impl_->reaped = true;
  }
}

}  // namespace hostsweep::runtime
