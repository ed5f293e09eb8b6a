# Every dependency is a Debian package (scripts/install-deps.sh installs them);
# nothing is downloaded at configure or build time.
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED)          # Asio and Process v2: header-only
find_package(SQLiteCpp REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(date REQUIRED)                # date::date-tz over the system tz database
find_package(CLI11 REQUIRED)
find_package(tomlplusplus REQUIRED)
