#pragma once
// The `--metrics-listen` value: a numeric address and a port.

#include <cstdint>
#include <string>

namespace hostsweep::ops {

// "127.0.0.1:9464", "[::1]:9464", "0.0.0.0:0" (0: the kernel picks a port).
struct ListenAddress {
  std::string host;  // a numeric IPv4 or IPv6 address, without brackets
  std::uint16_t port = 0;
  std::string to_string() const;  // "127.0.0.1:9464", "[::1]:9464"
};

// Throws std::invalid_argument saying what is wrong with `text`.
ListenAddress parse_listen_address(const std::string& text);

}  // namespace hostsweep::ops
