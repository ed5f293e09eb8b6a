// `hostsweep logs --session S [--follow]`: a session's container output, as the daemon wrote
// it to DATA_DIR/logs/<group>/<session>.log (container-log = file): the rotated files oldest
// first, then the current one. --follow then prints what is appended, across rotations: it
// polls the file (every 200 ms), and when the name has become a new file it finishes the old
// one (now <session>.log.1) and goes on with the new from its start. No file is followed
// through a link; every line is printed escaped (the daemon wrote it escaped already).
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include "commands.hpp"
#include "os/log_file.hpp"
#include "policy/output_lines.hpp"
#include "hostsweep/store/registry.hpp"
#include "json_writer.hpp"

namespace hostsweep::cli {
namespace {

// Prints whole lines read from `fd` until its end; a last line without '\n' (the daemon is
// mid-write) stays in `partial` for the next call.
void print_from(int fd, std::string& partial) {
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    partial.append(buffer, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string line = escape_text(std::string_view(partial).substr(start, nl - start));
      line += '\n';
      std::fwrite(line.data(), 1, line.size(), stdout);
    }
    partial.erase(0, start);
  }
  std::fflush(stdout);
}

bool same_file(int fd, const std::filesystem::path& path) {
  struct stat open_st{}, path_st{};
  if (::fstat(fd, &open_st) != 0 || ::lstat(path.c_str(), &path_st) != 0) return false;
  return open_st.st_dev == path_st.st_dev && open_st.st_ino == path_st.st_ino;
}

}  // namespace

void add_logs_command(CLI::App& app) {
  struct Options {
    std::string data_dir;
    std::string session;
    bool follow = false;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("logs", "print a session's container output (container-log = file)");
  add_data_dir_option(*cmd, opts->data_dir);
  cmd->add_option("--session", opts->session, "the session id")->required();
  cmd->add_flag("--follow,-f", opts->follow, "keep printing what is appended, across rotations, until interrupted");
  cmd->callback([opts] {
    store::DataDir data(opts->data_dir);
    auto session = store::find_session(data, opts->session);
    auto current = os::container_log_path(data.root(), session.record.agent_group_id, session.record.id);
    // The rotated files, oldest first (at most container-log-keep of them; 100 at most).
    int oldest = 0;
    for (int n = 1; n <= 100; ++n) {
      struct stat st{};
      if (::lstat(policy::rotated_name(current.string(), n).c_str(), &st) == 0) oldest = n;
    }
    std::string partial;
    for (int n = oldest; n >= 1; --n) {
      auto fd = os::open_log_for_reading(policy::rotated_name(current.string(), n));
      if (fd) print_from(fd.get(), partial);
      partial.clear();
    }
    auto fd = os::open_log_for_reading(current);
    if (!fd && errno != ENOENT) {
      throw Error(Errc::io_error, fmt::format("{}: {}", current.string(), errno == ELOOP ? "is a symlink: refused" : ::strerror(errno)));
    }
    if (!fd && !opts->follow && oldest == 0) {
      throw Error(Errc::not_found, fmt::format("no container output for session {} yet ({})", session.record.id, current.string()));
    }
    if (fd) print_from(fd.get(), partial);
    while (opts->follow) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (fd && same_file(fd.get(), current)) {
        print_from(fd.get(), partial);
        continue;
      }
      // Rotated (or not there yet): finish the old file, then the new one from its start.
      if (fd) print_from(fd.get(), partial);
      auto next = os::open_log_for_reading(current);
      if (!next) continue;
      partial.clear();
      fd = std::move(next);
      print_from(fd.get(), partial);
    }
  });
}

}  // namespace hostsweep::cli
