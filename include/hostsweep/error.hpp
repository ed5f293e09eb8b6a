#pragma once
// The project's error vocabulary: one enum, one std::error_category, and one exception type
// that carries the enum. Synchronous layers (store, CLI) throw hostsweep::Error with a
// message meant for a human; asynchronous layers report std::error_code built from Errc.

#include <stdexcept>
#include <string>
#include <system_error>

namespace hostsweep {

enum class Errc {
  invalid_argument = 1,  // a bad id, timestamp, duration, option value
  not_found,             // unknown session, missing file
  already_exists,        // a session id that is taken
  corrupt_file,          // not SQLite, or not the schema we expect
  io_error,              // the file system or SQLite refused
};

const std::error_category& error_category() noexcept;
std::error_code make_error_code(Errc e) noexcept;

// Thrown by synchronous operations. what() is one line a user can act on.
class Error : public std::runtime_error {
 public:
  Error(Errc code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Errc code() const noexcept { return code_; }

 private:
  Errc code_;
};

}  // namespace hostsweep

template <>
struct std::is_error_code_enum<hostsweep::Errc> : std::true_type {};
