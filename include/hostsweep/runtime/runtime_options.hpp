#pragma once
// What a container is: the runtime and the agent command template (runtime/container_runtime.hpp
// inside the library turns them into commands).

#include <string>
#include <string_view>
#include <vector>

namespace hostsweep::runtime {

enum class RuntimeKind { process, bwrap, docker, podman };

const char* to_string(RuntimeKind kind) noexcept;
// Throws Error(invalid_argument) naming the accepted values.
RuntimeKind parse_runtime_kind(std::string_view text);

struct RuntimeOptions {
  RuntimeKind kind = RuntimeKind::process;
  std::vector<std::string> agent_command;  // the template, one argv element each
  std::string image;                       // docker and podman only
};

}  // namespace hostsweep::runtime
