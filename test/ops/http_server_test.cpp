// The HTTP endpoint in-process: its routes, and that a slow, oversized or crowding client is
// cut off while others are still answered.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <thread>

#include "ops/http_server.hpp"
#include "ops/ops_support.hpp"

namespace hostsweep::ops {
namespace {

using namespace std::chrono_literals;
using testing::http_get;
using testing::http_request;

class Served : public ::testing::Test {
 protected:
  void serve(HttpLimits limits = {}) {
    server_.emplace(io_.get_executor(), ListenAddress{"127.0.0.1", 0},
                    HttpEndpoints{.metrics = [this] {
                                    ++scrapes_;
                                    return std::string("# HELP x_total X.\n# TYPE x_total counter\nx_total 1\n");
                                  },
                                  .ready = [this] { return ready_.load(); }},
                    limits);
    server_->start();
    port_ = server_->local_address().port;
    loop_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    if (!server_) return;
    boost::asio::post(io_, [this] { server_->stop(); });
    loop_.join();  // the loop ends only once every connection is gone
  }

  boost::asio::io_context io_;
  std::optional<HttpServer> server_;
  std::thread loop_;
  int port_ = 0;
  std::atomic<bool> ready_{false};
  std::atomic<int> scrapes_{0};
};

TEST(HttpListenAddress, ParsesAndRefuses) {
  auto a = parse_listen_address("127.0.0.1:9464");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 9464);
  auto b = parse_listen_address("[::1]:0");
  EXPECT_EQ(b.host, "::1");
  EXPECT_EQ(b.to_string(), "[::1]:0");
  for (const char* bad : {"9464", "localhost:9464", "::1:9464", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", ":9464"}) {
    EXPECT_THROW(parse_listen_address(bad), std::invalid_argument) << bad;
  }
}

TEST_F(Served, RoutesAnswerAndUnknownPathsAre404) {
  serve();
  auto metrics = http_get(port_, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.headers.find("text/plain; version=0.0.4"), std::string::npos) << metrics.headers;
  EXPECT_NE(metrics.body.find("x_total 1\n"), std::string::npos);
  EXPECT_EQ(http_get(port_, "/metrics?name[]=x").status, 200);
  EXPECT_EQ(http_get(port_, "/healthz").status, 200);
  EXPECT_EQ(http_get(port_, "/readyz").status, 503);
  ready_ = true;
  EXPECT_EQ(http_get(port_, "/readyz").status, 200);
  EXPECT_EQ(http_get(port_, "/").status, 404);
  EXPECT_EQ(http_get(port_, "/metricsx").status, 404);
  auto post = http_request(port_, "POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(http_request(port_, "NONSENSE\r\n\r\n").status, 400);
}

TEST_F(Served, KeepAliveServesSeveralRequestsOnOneConnection) {
  serve();
  auto fd = testing::tcp_connect("127.0.0.1", port_);
  ASSERT_TRUE(fd);
  std::string two = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(fd.get(), two.data(), two.size(), MSG_NOSIGNAL), static_cast<ssize_t>(two.size()));
  auto raw = testing::read_until_closed(fd.get(), 20s);
  EXPECT_NE(raw.find("HTTP/1.1 200 OK"), std::string::npos) << raw;
  EXPECT_NE(raw.find("ok\n"), std::string::npos) << raw;
  EXPECT_NE(raw.find("x_total 1\n"), std::string::npos) << raw;
}

TEST_F(Served, AHugeHeaderIsRefusedAndABodyIsNotRead) {
  serve({.max_header_bytes = 1024, .timeout = 20s});
  auto huge = http_request(port_, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'a') + "\r\n\r\n");
  EXPECT_EQ(huge.status, 431);
  auto body = http_request(port_, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + std::string(1000, 'b'));
  EXPECT_EQ(body.status, 413);
  EXPECT_EQ(scrapes_.load(), 0) << "neither reached a handler";
  EXPECT_EQ(http_get(port_, "/healthz").status, 200);
}

// A slowloris client (a header that never ends) holds only its own connection, and only
// until the timeout; the loop answers everyone else meanwhile.
TEST_F(Served, ASlowClientIsCutOffAtTheTimeoutAndBlocksNoOne) {
  serve({.timeout = 300ms});
  auto slow = testing::tcp_connect("127.0.0.1", port_);
  ASSERT_TRUE(slow);
  std::string part = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
  ASSERT_GT(::send(slow.get(), part.data(), part.size(), MSG_NOSIGNAL), 0);
  EXPECT_EQ(http_get(port_, "/healthz").status, 200);
  // The server closes it: the read sees the end (or a reset) well before 20 s, with no reply.
  auto start = std::chrono::steady_clock::now();
  auto got = testing::read_until_closed(slow.get(), 20s);
  EXPECT_EQ(got, "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 15s) << "the slow connection was never cut";
}

TEST_F(Served, ConnectionsOverTheLimitAreClosedAtOnce) {
  serve({.timeout = 20s, .max_connections = 2});
  auto a = testing::tcp_connect("127.0.0.1", port_);
  auto b = testing::tcp_connect("127.0.0.1", port_);
  ASSERT_TRUE(a && b);
  // Wait until both are accepted (the third's refusal depends on it).
  std::atomic<std::size_t> open{0};
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (open < 2 && std::chrono::steady_clock::now() < deadline) {
    std::atomic<bool> asked{false};
    boost::asio::post(io_, [&] {
      open = server_->open_connections();
      asked = true;
    });
    while (!asked) std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(open.load(), 2u);
  EXPECT_EQ(http_get(port_, "/healthz").status, 0) << "a third connection was served";
  a.reset();
  b.reset();
  bool served = false;
  for (int i = 0; i < 200 && !served; ++i) {
    served = http_get(port_, "/healthz").status == 200;
    if (!served) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(served) << "closed connections were not given back";
}

TEST(HttpServer, ABusyPortIsOneClearError) {
  boost::asio::io_context io;
  HttpServer first(io.get_executor(), {"127.0.0.1", 0}, {.metrics = [] { return std::string(); }, .ready = [] { return true; }});
  auto port = first.local_address().port;
  try {
    HttpServer second(io.get_executor(), {"127.0.0.1", port}, {.metrics = [] { return std::string(); }, .ready = [] { return true; }});
    ADD_FAILURE() << "bound twice";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("metrics-listen 127.0.0.1:" + std::to_string(port)), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hostsweep::ops
