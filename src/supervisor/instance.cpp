#include "instance.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include <fmt/format.h>

#include "hostsweep/error.hpp"

namespace hostsweep::supervisor::detail {
namespace {

bool is_install_id(const std::string& text) {
  return text.size() == 16 && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string read_or_make_install_id(const std::filesystem::path& file) {
  char buffer[64];
  os::UniqueFd in(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (in) {
    ssize_t n = ::read(in.get(), buffer, sizeof buffer);
    std::string text(buffer, n > 0 ? static_cast<std::size_t>(n) : 0);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    if (is_install_id(text)) return text;
    throw Error(Errc::corrupt_file, fmt::format("{}: not an install id (16 hex digits)", file.string()));
  }
  std::random_device random;
  std::string id = fmt::format("{:08x}{:08x}", random(), random());
  // Under the data directory lock: no one else writes it meanwhile.
  os::UniqueFd out(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  std::string line = id + "\n";
  if (!out || ::write(out.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    throw Error(Errc::io_error, fmt::format("{}: cannot write: {}", file.string(), std::strerror(errno)));
  }
  return id;
}

}  // namespace

Instance claim_data_dir(const store::DataDir& data) {
  const auto run = data.run_dir();
  os::make_private_directories(run);
  if (::chmod(run.c_str(), 0700) != 0) {
    throw Error(Errc::io_error, fmt::format("{}: cannot make it private: {}", run.string(), std::strerror(errno)));
  }
  const auto lock_file = run / "supervisor.lock";
  auto lock = os::SessionLock::try_acquire(lock_file);
  if (!lock) {
    auto holder = os::SessionLock::read_note(lock_file);
    while (!holder.empty() && holder.back() == '\n') holder.pop_back();
    throw Error(Errc::already_exists,
                fmt::format("{} is already supervised by another process (pid {})", data.root().string(),
                            holder.empty() ? "unknown" : holder));
  }
  lock->write_note(fmt::format("{}\n", ::getpid()));
  return Instance{std::move(*lock), read_or_make_install_id(run / "install-id")};
}

}  // namespace hostsweep::supervisor::detail
