#include "ops/listen_address.hpp"

#include <arpa/inet.h>

#include <stdexcept>

#include <fmt/format.h>

namespace hostsweep::ops {

std::string ListenAddress::to_string() const {
  return host.find(':') == std::string::npos ? fmt::format("{}:{}", host, port) : fmt::format("[{}]:{}", host, port);
}

ListenAddress parse_listen_address(const std::string& text) {
  auto bad = [&](const char* why) {
    return std::invalid_argument(fmt::format("\"{}\" is not ADDRESS:PORT ({}; write e.g. 127.0.0.1:9464)", text, why));
  };
  auto colon = text.rfind(':');
  if (colon == std::string::npos) throw bad("no port");
  std::string host = text.substr(0, colon);
  std::string port = text.substr(colon + 1);
  bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  unsigned char buf[16];
  if (bracketed ? ::inet_pton(AF_INET6, host.c_str(), buf) != 1 : ::inet_pton(AF_INET, host.c_str(), buf) != 1) {
    throw bad(host.find(':') != std::string::npos && !bracketed ? "an IPv6 address goes in brackets"
                                                                : "the address must be a numeric IPv4 or [IPv6] address");
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535) {
    throw bad("the port must be 0 to 65535");
  }
  return {host, static_cast<std::uint16_t>(std::stoul(port))};
}

}  // namespace hostsweep::ops
