// `hostsweep run`'s TOML config on any file text: the bytes become the --config file, then
// RunSettings::resolve() reads it as the daemon does. No crash, no UB; a bad file is a
// hostsweep::Error (any other exception escaping is a bug: main() would report it as
// "anything else" instead of naming the key).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli/run_settings.hpp"
#include "fuzz_check.hpp"
#include "hostsweep/error.hpp"

using namespace hostsweep;

namespace {

// One file for the whole run, rewritten per input.
const std::filesystem::path& config_path() {
  static const std::filesystem::path path = [] {
    std::string dir = (std::filesystem::temp_directory_path() / "hostsweep-fuzz-settings-XXXXXX").string();
    if (!::mkdtemp(dir.data())) fuzz::fail("mkdtemp");
    return std::filesystem::path(dir) / "hostsweep.toml";
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  {
    std::ofstream out(config_path(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) fuzz::fail("cannot write the config file");
  }
  CLI::App app;
  auto* run = app.add_subcommand("run");
  cli::RunSettings settings;
  settings.add_options(*run);
  // CLI11 takes the arguments reversed.
  std::vector<std::string> args{config_path().string(), "--config", "d", "--data-dir", "run"};
  app.parse(args);
  try {
    const auto config = settings.resolve();
    fuzz::check(!config.supervisor.runtime.agent_command.empty(), "resolved without an agent command");
  } catch (const Error& e) {
    fuzz::check(e.code() == Errc::invalid_argument, "a config error that is not invalid_argument", e.what());
  }
  return 0;
}
