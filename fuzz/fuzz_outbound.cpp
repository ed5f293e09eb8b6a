// read_outbound on whole outbound.db files, as a container could leave them. The input is
// the file's bytes; after a marker line, the rest is written beside it as the rollback journal
// (outbound.db-journal) or the write-ahead log (outbound.db-wal):
//   <outbound.db bytes>\n--hostsweep-fuzz-journal--\n<journal bytes>
//   <outbound.db bytes>\n--hostsweep-fuzz-wal--\n<wal bytes>
// Each input is read twice: read-only without a filter, then under the session lock (which
// rolls a hot journal back) keeping every other message as pending. No crash, no UB, no hang;
// a refusal is a hostsweep::Error. When both reads succeed they saw the same file, so the
// filtered acks are a subset of the full ones and keep every claim.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "fuzz_check.hpp"
#include "hostsweep/error.hpp"
#include "os/session_lock.hpp"
#include "hostsweep/store/layout.hpp"
#include "store/outbound_store.hpp"

using namespace hostsweep;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kJournalMarker = "\n--hostsweep-fuzz-journal--\n";
constexpr std::string_view kWalMarker = "\n--hostsweep-fuzz-wal--\n";

struct Session {
  store::SessionFiles files;
  os::SessionLock lock;
};

// One session for the whole run, its lock held throughout: no container runs here.
Session& session() {
  static Session s = [] {
    std::string root = (fs::temp_directory_path() / "hostsweep-fuzz-outbound-XXXXXX").string();
    if (!::mkdtemp(root.data())) fuzz::fail("mkdtemp");
    auto files = store::DataDir(root).session("group", "session");
    fs::create_directories(files.dir());
    auto lock = os::SessionLock::try_acquire(files.lock());
    if (!lock) fuzz::fail("session lock taken");
    return Session{std::move(files), std::move(*lock)};
  }();
  return s;
}

void write(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) fuzz::fail("cannot write", path.native());
}

void clear(const store::SessionFiles& files) {
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) fs::remove(files.outbound().native() + suffix);
}

using Row = std::tuple<std::string, std::string, std::string>;

std::vector<Row> rows(const store::OutboundSnapshot& s) {
  std::vector<Row> out;
  for (const auto& a : s.acks) out.emplace_back(a.message_id, policy::to_string(a.status), a.status_changed);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input = fuzz::as_text(data, size);
  auto& [files, lock] = session();
  clear(files);
  std::string_view db = input;
  for (const auto& [marker, suffix] : {std::pair{kJournalMarker, "-journal"}, std::pair{kWalMarker, "-wal"}}) {
    if (const auto at = input.find(marker); at != std::string_view::npos) {
      db = input.substr(0, at);
      write(files.outbound().native() + suffix, input.substr(at + marker.size()));
      break;
    }
  }
  write(files.outbound(), db);

  std::optional<store::OutboundSnapshot> full;
  try {
    full = store::read_outbound(files);
    fuzz::check(full->exists, "an existing file read as missing");
  } catch (const Error&) {
  }
  store::OutboundReadOptions options;
  options.pending_ids.emplace();
  for (std::size_t i = 0; full && i < full->acks.size(); i += 2) options.pending_ids->push_back(full->acks[i].message_id);
  std::optional<store::OutboundSnapshot> filtered;
  try {
    filtered = store::read_outbound(files, lock, options);
  } catch (const Error&) {
  }

  if (full && filtered) {
    const auto all = rows(*full);
    const auto kept = rows(*filtered);
    fuzz::check(std::includes(all.begin(), all.end(), kept.begin(), kept.end()), "filtered acks not a subset");
    for (const auto& row : all) {
      const auto& status = std::get<1>(row);
      if (status == "completed" || status == "failed") continue;
      fuzz::check(std::binary_search(kept.begin(), kept.end(), row), "the filter dropped a claim", std::get<0>(row));
    }
    fuzz::check(full->complete == filtered->complete, "the two reads disagree on the schema");
  }
  clear(files);
  return 0;
}
