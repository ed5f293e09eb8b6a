#pragma once
// Internal: a session template's files copied into a session directory that is being built
// (store::create_session). See registry.hpp for what a template may hold.

#include <filesystem>

namespace hostsweep::store::detail {

// Copies the tree under `from` into the existing directory `to`, recursively: regular files
// (their bytes) and directories only. Never follows a symlink, `from` itself included; refuses
// a symlink, fifo, socket or device anywhere in it, and any top-level name of the session's own
// files (inbound.db, outbound.db, their journals, .heartbeat, outbox), with one
// Error(invalid_argument) naming the entry. Never writes over an existing file (O_EXCL).
// Modes are kept without setuid or setgid, and made readable by every account (directories
// also searchable and the owner's to write), as the session's other files are: the container
// may run as another user. On failure, what was copied so far stays in `to`: the caller
// removes the whole directory. Error(io_error) for what the file system refuses.
void copy_template(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace hostsweep::store::detail
