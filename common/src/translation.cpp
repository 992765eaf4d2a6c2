#include "portdemo/translation.hpp"

namespace portdemo {

namespace {

// "::ffff:10.0.0.1" -> "10.0.0.1": one host, whichever family its socket reported.
std::string_view plain(std::string_view address) noexcept {
  constexpr std::string_view mapped = "::ffff:";
  if (address.size() > mapped.size() && address.substr(0, mapped.size()) == mapped &&
      address.find('.') != std::string_view::npos)
    return address.substr(mapped.size());
  return address;
}

bool unspecified(std::string_view address) noexcept { return address == "0.0.0.0" || address == "::"; }

std::optional<endpoint_change> change(const endpoint& before, const endpoint& after, bool compare_address) {
  endpoint_change c{before, after, compare_address && plain(before.address) != plain(after.address),
                    before.port != after.port};
  if (!c.address && !c.port) return std::nullopt;
  return c;
}

}  // namespace

std::string_view translation::kind() const noexcept {
  if (source && destination) return "source_and_destination_nat";
  if (source) return "source_nat";
  if (destination) return "destination_nat";
  return "none";
}

translation compare_views(const socket_tuple& client, const socket_tuple& server) {
  translation t;
  t.source = change(client.local, server.remote, true);
  t.destination_address_unknown = unspecified(server.local.address);
  t.destination = change(client.remote, server.local, !t.destination_address_unknown);
  return t;
}

}  // namespace portdemo
