#pragma once
// The user's time zone, from the system's IANA database (/usr/share/zoneinfo).

#include <date/tz.h>

#include <string_view>

namespace hostsweep::policy {

// The zone named `name` ("Europe/London"), or for "" the host's zone, falling back to UTC
// when the host's cannot be determined. Throws Error(invalid_argument) for an unknown name.
const date::time_zone& find_time_zone(std::string_view name);

}  // namespace hostsweep::policy
