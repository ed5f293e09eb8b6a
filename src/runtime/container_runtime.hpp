#pragma once
// Container runtimes as command templates: what to run to start a session's container, and
// (for docker and podman) what to run to stop it. Pure: no process is started here.
//
//   process  the agent command itself (the embedded default)
//   bwrap    the agent command in a bubblewrap sandbox: every top-level entry of the host's
//            `/` bound read-only at its place (symlinks such as /bin -> usr/bin kept), fresh
//            /dev, /proc and /tmp, the session directory read-write at /workspace (the working
//            directory); its own pid namespace and session, killed with the supervisor
//            (--die-with-parent). The session lock stays open as fd 3 inside. bwrap forwards
//            no signal: a stop's SIGTERM ends bwrap and so SIGKILLs the sandbox at once, and an
//            agent killed by a signal N exits with code 128+N
//   docker   `docker run --rm --name NAME --label ... -v DIR:/workspace IMAGE COMMAND...`,
//   podman   stopped with `docker stop -t GRACE NAME` (resp. podman). Every container carries
//            the label hostsweep.install=<install id>, so that a supervisor restarted after a
//            crash stops what its predecessor left running, and never another install's
//            containers (orphan_stop_command)
//
// Placeholders in the agent command: {session_dir}, {session_id}, {agent_group_id},
// {container_name}. Inside bwrap, docker and podman, {session_dir} is /workspace.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hostsweep/policy/timestamp.hpp"
#include "hostsweep/runtime/runtime_options.hpp"

namespace hostsweep::runtime {

struct ContainerSpec {
  std::string session_dir;
  std::string session_id;
  std::string agent_group_id;
  std::string container_name;
  std::string install_id;  // the data directory's: labels docker and podman containers
  // The data directory (absolute), which a bwrap sandbox must not see: the registry, the other
  // sessions, the host's run/ directory with its locks and control socket.
  std::string data_dir;
};

// "hostsweep-<group>-<session>": valid as a docker name, since both ids are.
std::string container_name(std::string_view agent_group_id, std::string_view session_id);

// Splits a command line as a POSIX shell would split words: blanks separate, single quotes
// keep everything, double quotes keep everything but \" and \\, a backslash escapes the next
// character. No expansion of any kind. Throws Error(invalid_argument) on an unclosed quote.
std::vector<std::string> split_command(std::string_view line);

// The argv that starts the container. Throws Error(invalid_argument) when the options cannot
// start anything (empty command, docker without an image, unknown placeholder).
std::vector<std::string> start_command(const RuntimeOptions& options, const ContainerSpec& spec);

// The argv that stops it (docker, podman), or nullopt when stopping means signalling the
// process group (process, bwrap).
std::optional<std::vector<std::string>> stop_command(const RuntimeOptions& options, const ContainerSpec& spec,
                                                     Duration grace);

// The argv that stops every container of this install left running by a supervisor that died
// (docker, podman: found by their hostsweep.install label, never by name), or nullopt when the
// runtime leaves nothing outside the supervisor's own process tree. It exits 0 when nothing was
// left or all of it stopped.
std::optional<std::vector<std::string>> orphan_stop_command(const RuntimeOptions& options, std::string_view install_id,
                                                            Duration grace);

}  // namespace hostsweep::runtime
