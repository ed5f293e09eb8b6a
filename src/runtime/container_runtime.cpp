#include "runtime/container_runtime.hpp"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "hostsweep/error.hpp"

namespace hostsweep::runtime {
namespace {

constexpr const char* kWorkspace = "/workspace";

// Replaces every {name} in `word`; an unknown {name} is an error, so a typo is caught at start.
std::string expand(std::string_view word, const ContainerSpec& spec, std::string_view session_dir) {
  std::string out;
  std::size_t pos = 0;
  while (pos < word.size()) {
    std::size_t open = word.find('{', pos);
    if (open == std::string_view::npos) {
      out.append(word.substr(pos));
      break;
    }
    std::size_t close = word.find('}', open);
    if (close == std::string_view::npos) {
      out.append(word.substr(pos));
      break;
    }
    out.append(word.substr(pos, open - pos));
    std::string_view name = word.substr(open + 1, close - open - 1);
    if (name == "session_dir") out.append(session_dir);
    else if (name == "session_id") out.append(spec.session_id);
    else if (name == "agent_group_id") out.append(spec.agent_group_id);
    else if (name == "container_name") out.append(spec.container_name);
    else {
      throw Error(Errc::invalid_argument,
                  fmt::format("agent command: unknown placeholder {{{}}} (known: {{session_dir}}, {{session_id}}, "
                              "{{agent_group_id}}, {{container_name}})",
                              name));
    }
    pos = close + 1;
  }
  return out;
}

std::vector<std::string> expand_all(const std::vector<std::string>& words, const ContainerSpec& spec,
                                    std::string_view session_dir) {
  std::vector<std::string> out;
  out.reserve(words.size());
  for (const auto& w : words) out.push_back(expand(w, spec, session_dir));
  return out;
}

// The top-level entries of the host's `/` that the bwrap sandbox shows read-only, sorted.
// Binding them one by one, rather than `--ro-bind / /`, leaves the sandbox's root bwrap's own
// tmpfs, where the mount point /workspace can be created: on a read-only `/` bwrap fails with
// "Can't mkdir /workspace: Read-only file system" unless the host happens to have one.
// /dev, /proc and /tmp are fresh in the sandbox, and /workspace is the session.
struct RootEntry {
  std::string path;
  std::optional<std::string> symlink_target;  // kept a symlink (/bin -> usr/bin on merged /usr)
};

std::vector<RootEntry> root_entries() {
  std::vector<RootEntry> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/", ec), end; !ec && it != end; it.increment(ec)) {
    const auto& entry = *it;
    std::string path = entry.path().string();
    if (path == "/dev" || path == "/proc" || path == "/tmp" || path == kWorkspace) continue;
    std::error_code entry_ec;
    auto status = entry.symlink_status(entry_ec);
    if (entry_ec) continue;
    if (std::filesystem::is_symlink(status)) {
      auto target = std::filesystem::read_symlink(entry.path(), entry_ec);
      if (!entry_ec) out.push_back({path, target.string()});
    } else if (std::filesystem::is_directory(status) || std::filesystem::is_regular_file(status)) {
      out.push_back({path, std::nullopt});
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  return out;
}

const char* binary_of(RuntimeKind kind) { return kind == RuntimeKind::podman ? "podman" : "docker"; }

bool has_engine(RuntimeKind kind) { return kind == RuntimeKind::docker || kind == RuntimeKind::podman; }

std::string install_label(std::string_view install_id) { return fmt::format("hostsweep.install={}", install_id); }

std::string grace_seconds(Duration grace) {
  return std::to_string(std::chrono::ceil<std::chrono::seconds>(grace).count());
}

}  // namespace

const char* to_string(RuntimeKind kind) noexcept {
  switch (kind) {
    case RuntimeKind::process: return "process";
    case RuntimeKind::bwrap: return "bwrap";
    case RuntimeKind::docker: return "docker";
    case RuntimeKind::podman: return "podman";
  }
  return "unknown";
}

RuntimeKind parse_runtime_kind(std::string_view text) {
  for (auto kind : {RuntimeKind::process, RuntimeKind::bwrap, RuntimeKind::docker, RuntimeKind::podman}) {
    if (text == to_string(kind)) return kind;
  }
  throw Error(Errc::invalid_argument, fmt::format("unknown runtime \"{}\" (use process, bwrap, docker or podman)", text));
}

std::string container_name(std::string_view agent_group_id, std::string_view session_id) {
  return fmt::format("hostsweep-{}-{}", agent_group_id, session_id);
}

std::vector<std::string> split_command(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::exchange(word, {}));
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\\' && i + 1 < line.size()) {
      word += line[++i];
    } else if (c == '\'') {
      std::size_t end = line.find('\'', i + 1);
      if (end == std::string_view::npos) throw Error(Errc::invalid_argument, "command: unclosed single quote");
      word.append(line.substr(i + 1, end - i - 1));
      i = end;
    } else if (c == '"') {
      std::size_t j = i + 1;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\' && j + 1 < line.size() && (line[j + 1] == '"' || line[j + 1] == '\\')) ++j;
        word += line[j];
      }
      if (j >= line.size()) throw Error(Errc::invalid_argument, "command: unclosed double quote");
      i = j;
    } else {
      word += c;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

std::vector<std::string> start_command(const RuntimeOptions& options, const ContainerSpec& spec) {
  if (options.agent_command.empty()) throw Error(Errc::invalid_argument, "no agent command configured (--agent-command)");
  switch (options.kind) {
    case RuntimeKind::process:
      return expand_all(options.agent_command, spec, spec.session_dir);
    case RuntimeKind::bwrap: {
      // --cap-drop ALL: bwrap started by root keeps every capability by default, and a root
      // sandbox with CAP_SYS_ADMIN and CAP_MKNOD could mount the host's disk and leave the
      // read-only view; the agent needs none of them (run-as-user has none to drop).
      std::vector<std::string> argv = {"bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--cap-drop", "ALL"};
      for (const auto& entry : root_entries()) {
        if (entry.symlink_target) argv.insert(argv.end(), {"--symlink", *entry.symlink_target, entry.path});
        else argv.insert(argv.end(), {"--ro-bind-try", entry.path, entry.path});
      }
      argv.insert(argv.end(), {"--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"});
      // An empty tmpfs over the data directory: the host's / is shown read-only, and without
      // this a container of the daemon's own user (root, unless run-as-user) could read every
      // other session's files and reach the daemon's control socket (a socket on a read-only
      // mount still accepts connections). Its own session is bound at /workspace below.
      if (!spec.data_dir.empty()) argv.insert(argv.end(), {"--tmpfs", spec.data_dir});
      argv.insert(argv.end(), {"--bind", spec.session_dir, kWorkspace, "--chdir", kWorkspace, "--"});
      auto command = expand_all(options.agent_command, spec, kWorkspace);
      argv.insert(argv.end(), command.begin(), command.end());
      return argv;
    }
    case RuntimeKind::docker:
    case RuntimeKind::podman: {
      if (options.image.empty()) {
        throw Error(Errc::invalid_argument, fmt::format("runtime {} needs an image (--image)", to_string(options.kind)));
      }
      std::vector<std::string> argv = {binary_of(options.kind),
                                       "run",
                                       "--rm",
                                       "--name",
                                       spec.container_name,
                                       "--label",
                                       "hostsweep.session=" + spec.session_id,
                                       "--label",
                                       "hostsweep.agent_group=" + spec.agent_group_id,
                                       "--label",
                                       install_label(spec.install_id),
                                       "--volume",
                                       spec.session_dir + ":" + kWorkspace,
                                       "--workdir",
                                       kWorkspace,
                                       options.image};
      auto command = expand_all(options.agent_command, spec, kWorkspace);
      argv.insert(argv.end(), command.begin(), command.end());
      return argv;
    }
  }
  return {};
}

std::optional<std::vector<std::string>> stop_command(const RuntimeOptions& options, const ContainerSpec& spec,
                                                     Duration grace) {
  if (!has_engine(options.kind)) return std::nullopt;
  return std::vector<std::string>{binary_of(options.kind), "stop", "--time", grace_seconds(grace), spec.container_name};
}

std::optional<std::vector<std::string>> orphan_stop_command(const RuntimeOptions& options, std::string_view install_id,
                                                            Duration grace) {
  if (!has_engine(options.kind)) return std::nullopt;
  // The values go in as the script's arguments, never into its text: nothing is interpreted.
  constexpr const char* kScript =
      "ids=$(\"$1\" ps --quiet --filter \"label=$2\") || exit\n"
      "[ -z \"$ids\" ] || exec \"$1\" stop --time \"$3\" $ids\n";
  return std::vector<std::string>{"/bin/sh",          "-c", kScript, "hostsweep-orphan-stop", binary_of(options.kind),
                                  install_label(install_id), grace_seconds(grace)};
}

}  // namespace hostsweep::runtime
