#pragma once
// The user's time zone (find_time_zone, in the public policy/settings.hpp), with date/tz.h for
// the code that computes in it.

#include <date/tz.h>

#include "hostsweep/policy/settings.hpp"
