#include "policy/time_zone.hpp"

#include <fmt/format.h>

#include "hostsweep/error.hpp"

namespace hostsweep::policy {

const date::time_zone& find_time_zone(std::string_view name) {
  if (name.empty()) {
    try {
      return *date::current_zone();
    } catch (const std::exception&) {
      return *date::locate_zone("UTC");
    }
  }
  try {
    return *date::locate_zone(name);
  } catch (const std::exception&) {
    throw Error(Errc::invalid_argument,
                fmt::format("unknown time zone \"{}\" (use an IANA name such as Europe/London)", name));
  }
}

}  // namespace hostsweep::policy
