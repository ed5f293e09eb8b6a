#include "hostsweep/store/layout.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <random>

#include <fmt/format.h>

#include "hostsweep/error.hpp"

namespace hostsweep::store {
namespace {

bool is_alnum(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

}  // namespace

bool is_valid_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128 || !is_alnum(id.front())) return false;
  for (char c : id) {
    if (!is_alnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

void validate_id(std::string_view what, std::string_view id) {
  if (is_valid_id(id)) return;
  // Show the id escaped enough that control characters cannot garble the terminal.
  std::string shown;
  for (char c : id.substr(0, 140)) {
    auto u = static_cast<unsigned char>(c);
    shown += (u < 0x20 || u == 0x7f) ? fmt::format("\\x{:02x}", u) : std::string(1, c);
  }
  throw Error(Errc::invalid_argument,
              fmt::format("invalid {} \"{}\": must be 1-128 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit",
                          what, shown));
}

std::string generate_id(std::string_view prefix, TimePoint now) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  return fmt::format("{}-{}-{:08x}", prefix, now.time_since_epoch().count(), rng());
}

SessionFiles DataDir::session(std::string_view agent_group_id, std::string_view session_id) const {
  validate_id("agent group id", agent_group_id);
  validate_id("session id", session_id);
  return SessionFiles{sessions_root() / agent_group_id / session_id, run_dir() / "sessions" / agent_group_id / session_id};
}


}  // namespace hostsweep::store
