#include "hostsweep/runtime/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

// Boost 1.81's Process v2 forgets this include when it runs on std::filesystem.
#include <boost/optional.hpp>
#include <boost/process/v2/process.hpp>

#include <cstdlib>

#include <fmt/format.h>

namespace hostsweep::runtime {
namespace bp = boost::process::v2;

namespace {

// Launcher hooks: a new process group, the lock fd kept open across exec, default signal
// dispositions restored (the daemon may ignore SIGPIPE; its children must not inherit that).
struct ContainerInit {
  int inherit_fd = -1;

  template <typename Launcher>
  std::error_code on_setup(Launcher& launcher, const bp::filesystem::path&, const char* const*&) {
    if (inherit_fd >= 0) launcher.fd_whitelist.push_back(inherit_fd);
    return {};
  }

  template <typename Launcher>
  std::error_code on_exec_setup(Launcher&, const bp::filesystem::path&, const char* const*&) {
    if (::setpgid(0, 0) != 0) return {errno, std::system_category()};
    if (inherit_fd >= 0) {
      int flags = ::fcntl(inherit_fd, F_GETFD);
      if (flags < 0 || ::fcntl(inherit_fd, F_SETFD, flags & ~FD_CLOEXEC) != 0) return {errno, std::system_category()};
    }
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    return {};
  }

  // Also from the parent, so that a signal sent right after the start reaches the group even
  // if the child has not run its own setpgid yet (EACCES after its exec is fine: it did).
  template <typename Launcher>
  void on_success(Launcher& launcher, const bp::filesystem::path&, const char* const*&) {
    ::setpgid(launcher.pid, launcher.pid);
  }
};

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
  std::vector<std::string> args(argv.begin() + 1, argv.end());
  boost::system::error_code ec;
  bp::default_process_launcher launcher;
  auto process = launcher(executor, ec, exe, args, ContainerInit{inherit_fd});
  if (ec) {
    error = std::error_code(ec.value(), std::system_category());
    return nullptr;
  }
  return std::unique_ptr<ChildProcess>(new ChildProcess(std::make_unique<Impl>(Impl{std::move(process)})));
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
