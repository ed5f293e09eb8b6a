#include "hostsweep/runtime/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

// Boost 1.81's Process v2 forgets this include when it runs on std::filesystem.
#include <boost/optional.hpp>
#include <boost/process/v2/process.hpp>

#include <cstdlib>

extern char** environ;

#include <fmt/format.h>

namespace hostsweep::runtime {
namespace bp = boost::process::v2;

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

}  // namespace

std::string ExitStatus::describe() const {
  if (signal != 0) {
    const char* name = ::sigabbrev_np(signal);
    return name ? fmt::format("signal {} (SIG{})", signal, name) : fmt::format("signal {}", signal);
  }
  return fmt::format("exit code {}", exit_code);
}

struct ChildProcess::Impl {
  bp::process process;
};

ChildProcess::ChildProcess(std::unique_ptr<Impl> impl) : impl_(std::move(impl)), pid_(impl_->process.id()) {}

ChildProcess::~ChildProcess() {
  if (impl_) impl_->process.detach();
}

std::unique_ptr<ChildProcess> ChildProcess::start(boost::asio::any_io_executor executor,
                                                  const std::vector<std::string>& argv, int inherit_fd,
                                                  std::error_code& error) {
  error.clear();
  if (argv.empty()) {
    error = std::make_error_code(std::errc::invalid_argument);
    return nullptr;
  }
  bp::filesystem::path exe = argv[0];
  if (argv[0].find('/') == std::string::npos) {
    exe = find_in_path(argv[0]);
    if (exe.empty()) {
      error = std::make_error_code(std::errc::no_such_file_or_directory);
      return nullptr;
    }
  }
  // posix_spawn, not Boost.Process's fork-based launcher: that one runs Asio's fork
  // notification (which allocates) in the child, and in a multi-threaded process (our database
  // pool) an allocator lock held by another thread at fork time hangs the child forever.
  // posix_spawn runs nothing of ours between fork and exec. The process is then handed to
  // Boost.Process, which waits for it through a pidfd.
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attributes);
  // stdin from /dev/null; stdout and stderr inherited (the journal, under systemd). The lock fd
  // becomes fd 3 (dup2 clears close-on-exec); every other descriptor is closed.
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  int first_closed = 3;
  if (inherit_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, inherit_fd, 3);
    first_closed = 4;
  }
  posix_spawn_file_actions_addclosefrom_np(&actions, first_closed);
  // Its own process group, so that a kill reaches its grandchildren; default signal handling
  // and an empty mask, whatever the supervisor's are.
  sigset_t all;
  sigset_t none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  std::vector<char*> raw;
  std::vector<std::string> storage(argv);
  for (auto& a : storage) raw.push_back(a.data());
  raw.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, exe.c_str(), &actions, &attributes, raw.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0) {
    error = std::error_code(rc, std::system_category());
    return nullptr;
  }
  return std::unique_ptr<ChildProcess>(new ChildProcess(std::make_unique<Impl>(Impl{bp::process(executor, pid)})));
}

void ChildProcess::async_wait(std::function<void(std::error_code, ExitStatus)> handler) {
  impl_->process.handle().async_wait(
      [handler = std::move(handler)](boost::system::error_code ec, bp::native_exit_code_type status) {
        if (ec) {
          handler(ec == boost::asio::error::operation_aborted ? std::make_error_code(std::errc::operation_canceled)
                                                              : std::error_code(ec.value(), std::system_category()),
                  {});
          return;
        }
        ExitStatus exit;
        if (WIFSIGNALED(status)) exit.signal = WTERMSIG(status);
        else exit.exit_code = WEXITSTATUS(status);
        handler({}, exit);
      });
}

void ChildProcess::signal_group(int signal) noexcept {
  if (pid_ > 0) ::kill(-pid_, signal);
}

}  // namespace hostsweep::runtime
