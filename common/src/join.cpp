#include "portdemo/join.hpp"

// Placeholder until the implementation lands (work in progress, not wired in).
namespace portdemo {

std::vector<interface_address> host_interface_addresses() { return {}; }

std::vector<std::string> join_urls(const std::vector<interface_address>&, const std::vector<bound_listener>&) {
  return {};
}

}  // namespace portdemo
