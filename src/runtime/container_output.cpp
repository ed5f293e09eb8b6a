#include "runtime/container_output.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "hostsweep/error.hpp"
#include "os/log_file.hpp"
#include "os/unique_fd.hpp"

namespace hostsweep::runtime {
namespace asio = boost::asio;
using policy::OutputStream;

namespace {

class FileSink final : public OutputSink {
 public:
  explicit FileSink(std::unique_ptr<os::RotatingLogFile> file) : file_(std::move(file)) { scratch_.reserve(1024); }
  void line(OutputStream stream, bool partial, std::string_view content, TimePoint at) override {
    // The lines of one read share their time: formatted once, not once per line.
    if (at != time_of_) {
      time_of_ = at;
      time_ = policy::format_iso8601(at);
    }
    scratch_.clear();
    policy::append_log_line(scratch_, time_, stream, partial, content);
    file_->append(scratch_);
  }
  void flush() override { file_->flush(); }
  std::string error() const override { return file_->error(); }

 private:
  std::unique_ptr<os::RotatingLogFile> file_;
  std::string scratch_;
  TimePoint time_of_{TimePoint::min()};
  std::string time_;
};

class CallbackSink final : public OutputSink {
 public:
  explicit CallbackSink(std::function<void(OutputStream, bool, std::string_view)> f) : f_(std::move(f)) {}
  void line(OutputStream stream, bool partial, std::string_view content, TimePoint) override { f_(stream, partial, content); }

 private:
  std::function<void(OutputStream, bool, std::string_view)> f_;
};

class DiscardSink final : public OutputSink {
 public:
  void line(OutputStream, bool, std::string_view, TimePoint) override {}
};

}  // namespace

std::unique_ptr<OutputSink> file_sink(std::unique_ptr<os::RotatingLogFile> file) {
  return std::make_unique<FileSink>(std::move(file));
}
std::unique_ptr<OutputSink> callback_sink(std::function<void(OutputStream, bool, std::string_view)> on_line) {
  return std::make_unique<CallbackSink>(std::move(on_line));
}
std::unique_ptr<OutputSink> discard_sink() { return std::make_unique<DiscardSink>(); }

struct ContainerOutput::Impl : std::enable_shared_from_this<ContainerOutput::Impl> {
  struct Pipe {
    Pipe(asio::any_io_executor ex, OutputStream w, std::size_t chunk, std::size_t max_line)
        : which(w), read_end(std::move(ex)), buffer(chunk), framer(max_line) {}
    OutputStream which;
    asio::posix::stream_descriptor read_end;
    os::UniqueFd child_end;
    std::vector<char> buffer;  // read_chunk bytes, for the life of the pipe
    policy::LineFramer framer;
    bool in_flight = false;      // an async read is outstanding
    bool ended = false;          // end of file, an error, or closed
    bool drain_pending = false;  // drain() waits for this pipe
  };

  Impl(asio::any_io_executor ex, std::unique_ptr<OutputSink> s, std::function<TimePoint()> n, OutputLimits l)
      : executor(ex),
        sink(std::move(s)),
        now(std::move(n)),
        limits(l),
        pipes{Pipe(ex, OutputStream::out, l.read_chunk, l.max_line), Pipe(ex, OutputStream::err, l.read_chunk, l.max_line)},
        tail(l.tail_bytes),
        grace_timer(ex) {}

  asio::any_io_executor executor;
  std::unique_ptr<OutputSink> sink;
  std::function<TimePoint()> now;
  OutputLimits limits;
  std::array<Pipe, 2> pipes;
  policy::TailBuffer tail;
  asio::steady_timer grace_timer;
  bool started = false;
  bool closing = false;  // close_after() was called
  bool closed = false;
  int drains_left = 0;
  std::function<void()> drain_done;
  std::function<void()> on_closed;

  void consume(Pipe& p, std::size_t n) {
    if (n == 0) return;
    std::string_view bytes(p.buffer.data(), n);
    if (p.which == OutputStream::err) tail.append(bytes);
    const TimePoint at = now();
    p.framer.feed(bytes, [&](std::string_view content, bool partial) { sink->line(p.which, partial, content, at); });
    sink->flush();
  }

  void read(Pipe& p) {
    if (p.ended || closed || p.in_flight) return;
    p.in_flight = true;
    p.read_end.async_read_some(asio::buffer(p.buffer), [self = shared_from_this(), &p](boost::system::error_code ec,
                                                                                       std::size_t n) {
      p.in_flight = false;
      if (self->closed) return;
      self->consume(p, n);
      if (ec && ec != asio::error::operation_aborted) self->end(p);
      if (p.drain_pending) self->drain_now(p);
      self->read(p);
    });
  }

  // Reads what the pipe holds, within the drain budget, without waiting (no read is in flight).
  void drain_now(Pipe& p) {
    p.drain_pending = false;
    std::size_t budget = limits.drain_budget;
    while (!p.ended && budget > 0) {
      ssize_t n = ::read(p.read_end.native_handle(), p.buffer.data(), std::min(p.buffer.size(), budget));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) {
        end(p);
        break;
      }
      consume(p, static_cast<std::size_t>(n));
      budget -= static_cast<std::size_t>(n);
    }
    if (--drains_left == 0 && drain_done) asio::post(executor, std::exchange(drain_done, {}));
  }

  void end(Pipe& p) {
    if (p.ended) return;
    p.ended = true;
    p.framer.finish([&](std::string_view content, bool partial) { sink->line(p.which, partial, content, now()); });
    sink->flush();
    boost::system::error_code ignored;
    p.read_end.close(ignored);
    if (closing && pipes[0].ended && pipes[1].ended) close();
  }

  void close() {
    if (closed) return;
    for (auto& p : pipes) {
      if (p.drain_pending) {
        p.drain_pending = false;
        --drains_left;
      }
      end(p);
    }
    closed = true;
    grace_timer.cancel();
    if (drain_done) asio::post(executor, std::exchange(drain_done, {}));
    if (on_closed) asio::post(executor, std::exchange(on_closed, {}));
  }
};

ContainerOutput::ContainerOutput(asio::any_io_executor executor, std::unique_ptr<OutputSink> sink,
                                 std::function<TimePoint()> now, OutputLimits limits)
    : impl_(std::make_shared<Impl>(executor, std::move(sink), std::move(now), limits)) {
  for (auto& p : impl_->pipes) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      throw Error(Errc::io_error, fmt::format("cannot create a pipe for the container's output: {}", ::strerror(errno)));
    }
    p.read_end.assign(fds[0]);
    p.child_end.reset(fds[1]);
    p.read_end.non_blocking(true);
  }
}

ContainerOutput::~ContainerOutput() { impl_->close(); }

int ContainerOutput::child_stdout() const noexcept { return impl_->pipes[0].child_end.get(); }
int ContainerOutput::child_stderr() const noexcept { return impl_->pipes[1].child_end.get(); }

void ContainerOutput::start() {
  if (impl_->started || impl_->closed) return;
  impl_->started = true;
  for (auto& p : impl_->pipes) {
    p.child_end.reset();
    impl_->read(p);
  }
}

void ContainerOutput::drain(std::function<void()> done) {
  auto& impl = *impl_;
  if (impl.closed || impl.drain_done) {
    asio::post(impl.executor, std::move(done));
    return;
  }
  impl.drain_done = std::move(done);
  impl.drains_left = 1;  // held until every pipe is asked, so none finishes the drain early
  for (auto& p : impl.pipes) {
    if (p.ended) continue;
    ++impl.drains_left;
    p.drain_pending = true;
    // An outstanding read is cancelled; its handler drains after consuming what it read, so
    // the lines stay in order. Without one, the pipe is drained now.
    if (p.in_flight) p.read_end.cancel();
    else impl.drain_now(p);
  }
  if (--impl.drains_left == 0 && impl.drain_done) asio::post(impl.executor, std::exchange(impl.drain_done, {}));
}

void ContainerOutput::close_after(std::chrono::milliseconds grace, std::function<void()> closed) {
  auto& impl = *impl_;
  if (impl.closing || impl.closed) return;
  impl.closing = true;
  impl.on_closed = std::move(closed);
  if (impl.pipes[0].ended && impl.pipes[1].ended) return impl.close();
  impl.grace_timer.expires_after(grace);
  impl.grace_timer.async_wait([self = impl_](boost::system::error_code ec) {
    if (!ec) self->close();
  });
}

std::string ContainerOutput::stderr_tail() const { return impl_->tail.tail(impl_->limits.tail_lines); }
std::string ContainerOutput::sink_error() const { return impl_->sink->error(); }
bool ContainerOutput::closed() const noexcept { return impl_->closed; }

}  // namespace hostsweep::runtime
