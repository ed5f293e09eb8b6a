#pragma once
// A container's stdout and stderr: two pipes whose write ends the container gets as fds 1 and
// 2, and whose read ends are read here, on the caller's executor, never with a blocking read.
// Each read takes at most `read_chunk` bytes into a fixed buffer, and the next read is a new
// asynchronous operation, so other handlers run between reads: a container that writes as
// fast as it can costs the loop a bounded slice per turn, and once the pipe is full it waits
// for us (a pipe is its backpressure), holding no memory of ours.
//
// Lines (policy/output_lines.hpp: bounded, split when longer) go to an OutputSink: the
// session's rotating log file, a callback (the daemon's own log), or nowhere. The last bytes
// of stderr are kept for stderr_tail().
//
// The end: the container has ended when the supervisor says so (pidfd, cgroup), never when its
// pipes close, since a grandchild may hold them open. drain() reads what the pipes hold at
// that moment (bounded), so the tail includes the container's last words; close_after()
// keeps reading until both pipes reach their end or the drain time passes, then closes them.
// A writer left after that gets EPIPE (or SIGPIPE, which it did not ignore): its own problem.
//
// Thread-safety: use from the executor it was created on. Destroying it closes the pipes;
// pending reads complete (aborted) without touching anything but their own shared state.

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "policy/output_lines.hpp"
#include "hostsweep/policy/timestamp.hpp"

namespace hostsweep::os {
class RotatingLogFile;
}

namespace hostsweep::runtime {

// Where a container's output lines go.
class OutputSink {
 public:
  virtual ~OutputSink() = default;
  // One line or piece (partial), raw as the container wrote it; `at` is when it was read.
  virtual void line(policy::OutputStream stream, bool partial, std::string_view content, TimePoint at) = 0;
  // After each read's lines.
  virtual void flush() {}
  // What went wrong writing (a full disk), "" when nothing did.
  virtual std::string error() const { return {}; }
};

// The session's log file (os/log_file.hpp), one formatted line each.
std::unique_ptr<OutputSink> file_sink(std::unique_ptr<os::RotatingLogFile> file);
// Each line handed to `on_line`.
std::unique_ptr<OutputSink> callback_sink(
    std::function<void(policy::OutputStream, bool partial, std::string_view content)> on_line);
// Nowhere (the output is still read, so that the container never blocks on it).
std::unique_ptr<OutputSink> discard_sink();

struct OutputLimits {
  std::size_t read_chunk = 64 * 1024;  // bytes per read, per stream
  std::size_t max_line = 8 * 1024;     // longer lines are split
  std::size_t drain_budget = 256 * 1024;  // bytes drain() reads at most, per stream
  std::size_t tail_bytes = 4096;       // stderr kept for stderr_tail()
  std::size_t tail_lines = 20;
};

class ContainerOutput {
 public:
  // Creates the pipes (close-on-exec). Throws Error(io_error) when the kernel refuses.
  ContainerOutput(boost::asio::any_io_executor executor, std::unique_ptr<OutputSink> sink,
                  std::function<TimePoint()> now, OutputLimits limits = {});
  ~ContainerOutput();
  ContainerOutput(const ContainerOutput&) = delete;
  ContainerOutput& operator=(const ContainerOutput&) = delete;

  // The write ends, for the child's fds 1 and 2 (runtime::SpawnOptions); valid until start().
  int child_stdout() const noexcept;
  int child_stderr() const noexcept;

  // After the spawn: closes our copies of the write ends (so the pipes end when the
  // container's processes have all closed theirs) and starts reading.
  void start();

  // Reads what the pipes hold now, at most drain_budget bytes each, then calls `done` (posted,
  // never inline). Reading goes on afterwards.
  void drain(std::function<void()> done);

  // Reads until both pipes have ended or `grace` has passed, then closes them and calls
  // `closed` (posted). Idempotent: a second call changes nothing.
  void close_after(std::chrono::milliseconds grace, std::function<void()> closed = {});

  // The last lines of stderr read so far, escaped, joined by '\n' (policy::TailBuffer::tail).
  std::string stderr_tail() const;
  // The sink's error, "" when none.
  std::string sink_error() const;
  bool closed() const noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace hostsweep::runtime
