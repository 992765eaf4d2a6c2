#include "portdemo/endpoint.hpp"

namespace portdemo {

std::string to_string(const endpoint& ep) {
  if (ep.is_v6()) return fmt::format("[{}]:{}", ep.address, ep.port);
  return fmt::format("{}:{}", ep.address, ep.port);
}

bool is_mirror(const socket_tuple& mine, const socket_tuple& theirs) noexcept {
  return mine.local == theirs.remote && mine.remote == theirs.local;
}

}  // namespace portdemo
