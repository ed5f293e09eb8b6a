#pragma once
// Runs a program to completion and captures its exit status, stdout and stderr.

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

extern char** environ;

namespace hostsweep::testing {

struct ProgramResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Starts `program` with `args`, its stdout and stderr appended to the given files, and returns
// its pid (or -1) without waiting for it.
inline pid_t spawn_program(const std::string& program, const std::vector<std::string>& args,
                           const std::filesystem::path& out_path, const std::filesystem::path& err_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::vector<std::string> storage{program};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// Polls `done` until it holds (true) or `timeout` passes (false), for processes the test does
// not drive through an event loop. Callers assert the result.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = std::chrono::seconds{30}) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  return true;
}

inline ProgramResult run_program(const std::string& program, const std::vector<std::string>& args) {
  TempDir capture;
  auto out_path = capture.path() / "out";
  auto err_path = capture.path() / "err";
  ProgramResult result;
  pid_t pid = spawn_program(program, args, out_path, err_path);
  if (pid > 0) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

}  // namespace hostsweep::testing
