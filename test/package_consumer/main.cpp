// Uses the installed library as an embedding application would: create a session, enqueue,
// and read back what is due.
#include <hostsweep/store/inbound_store.hpp>
#include <hostsweep/store/registry.hpp>

#include <cstdio>
#include <filesystem>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  hostsweep::store::DataDir data{std::filesystem::path(argv[1])};
  auto now = hostsweep::policy::now_utc();
  auto session = hostsweep::store::create_session(data, "embedded", std::string("consumer"), now);
  hostsweep::store::enqueue(session.files, {.content = "from an embedding application"}, now);
  auto due = hostsweep::store::summarize_inbound(session.files, now).due_ids.size();
  std::printf("due=%zu\n", due);
  return due == 1 ? 0 : 1;
}
