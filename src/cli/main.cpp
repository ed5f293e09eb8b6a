#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  CLI::App app{"hostsweep: supervisor for sandboxed agent containers"};
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
