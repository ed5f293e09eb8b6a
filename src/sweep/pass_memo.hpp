#pragma once
// What a pass read of one session, which the next pass over it may judge again instead of
// opening the files (sweep::run_pass): kept in memory by the supervisor, and persisted in the
// session's host directory (store::SessionFiles::pass_memo(), under the 0700 DATA_DIR/run/) so
// that a restarted daemon and `hostsweep sweep --once` skip unchanged sessions too.
//
// A memo is only ever trusted for files whose version (store::FileVersion) is the one it was
// read at, and never when that version was in doubt. No container can reach the host
// directory; even so, a memo file is taken only when it is a regular file of this process's
// user, with one link, writable by no one else, and whole (its checksum matches): anything
// else is ignored, and the files are read.
//
// Thread-safety: free functions with no shared state.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "policy/sweep_plan.hpp"
#include "store/file_version.hpp"
#include "store/outbound_store.hpp"

namespace hostsweep::sweep {

struct PassMemo {
  store::FileVersion outbound_version;
  store::FileVersion inbound_version;
  store::OutboundSnapshot outbound;
  policy::InboundFacts inbound;  // as read, before the pass's own writes
  // The acks keep only what a pass decides on while no container runs (see compact_acks):
  // good for a pass over the same two versions that holds the session lock, and for no other.
  bool acks_compacted = false;
};

// The acks of `memo` that a pass over the same files decides on when no container runs:
// claims, the acks of messages still unsettled in `memo.inbound`, and the latest sign of life of
// the others (as store::OutboundReadOptions::pending_ids keeps them). Holding every ack of a
// session's history was most of a memo's size.
PassMemo compact_acks(PassMemo memo);

// A memo file bigger than this is not written (a session with that many live acks is read).
inline constexpr std::size_t kMaxPassMemoBytes = std::size_t{1} << 20;

// The bytes of a memo file, and back. decode_pass_memo returns nullopt for anything that is not
// a whole memo of this format: wrong magic or format version, bad checksum, truncated, trailing
// bytes, a field out of range. Pure.
std::string encode_pass_memo(const PassMemo& memo);
std::optional<PassMemo> decode_pass_memo(std::string_view bytes);
// The payload alone, what decode_pass_memo reads once the header's checks have passed: for the
// fuzz target, which would never forge a checksum by chance.
std::optional<PassMemo> decode_pass_memo_payload(std::string_view payload);

// nullptr when there is no memo file, or one that is not to be trusted (see above). Never throws.
std::shared_ptr<const PassMemo> load_pass_memo(const std::filesystem::path& file) noexcept;

// Rewritten in place (no rename, no fsync: a memo torn by a crash or read half-written fails its
// checksum and is ignored, and costs one read); anything at `file` that is not this user's own
// memo file is unlinked first, never written through. Not written over kMaxPassMemoBytes; an
// old file is removed then, so it cannot outlive the state it described. Returns false when
// nothing was written. Only one process writes a session's memo at a time: the one holding its
// lock. Never throws.
bool save_pass_memo(const std::filesystem::path& file, const PassMemo& memo) noexcept;

}  // namespace hostsweep::sweep
