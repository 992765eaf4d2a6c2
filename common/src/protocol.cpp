#include "portdemo/protocol.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "portdemo/json.hpp"
#include "portdemo/text.hpp"

namespace portdemo {

std::string endpoint_json(const endpoint& ep) {
  // Appended piece by piece: every logged connection writes two of these.
  std::string out;
  out.reserve(48 + ep.address.size());
  out += "{\"address\":";
  append_json_string(out, ep.address);
  out += ",\"port\":";
  out += fmt::format_int(ep.port).str();
  out += '}';
  return out;
}

namespace {

std::optional<endpoint> endpoint_from(const json_value* v) {
  if (!v) return std::nullopt;
  const json_value* address = v->find("address");
  const json_value* port = v->find("port");
  if (!address || !port || !address->as_string() || !port->as_number()) return std::nullopt;
  // Only an IP address literal: anything else (a name, terminal escapes) is not the kernel's
  // answer and must never reach the screen.
  if (!is_ip_address(*address->as_string())) return std::nullopt;
  double p = *port->as_number();
  if (p < 0 || p > 65535 || std::floor(p) != p) return std::nullopt;
  return endpoint{*address->as_string(), static_cast<std::uint16_t>(p)};
}

}  // namespace

std::string proxy_claim_json(const proxy_claim& claim) {
  const auto ep = [](const std::optional<endpoint>& e) { return e ? endpoint_json(*e) : std::string("null"); };
  return fmt::format("{{\"version\":{},\"command\":{},\"source\":{},\"destination\":{}}}", claim.version,
                     claim.local ? "\"local\"" : "\"proxy\"", ep(claim.source), ep(claim.destination));
}

std::string render_server_view(const server_view& view) {
  return fmt::format("{{\"event\":\"server_view\",\"proto\":{},\"id\":{},\"local\":{},"
                     "\"remote\":{}{}}}\n",
                     json_string(view.proto), view.id, endpoint_json(view.tuple.local),
                     endpoint_json(view.tuple.remote),
                     view.proxy ? ",\"proxy\":" + proxy_claim_json(*view.proxy) : std::string());
}

std::optional<server_view> parse_server_view(std::string_view line) {
  auto doc = parse_json(line);
  if (!doc) return std::nullopt;
  const json_value* ev = doc->find("event");
  if (!ev || !ev->as_string() || *ev->as_string() != "server_view") return std::nullopt;
  auto local = endpoint_from(doc->find("local"));
  auto remote = endpoint_from(doc->find("remote"));
  if (!local || !remote) return std::nullopt;
  // The connection number: a whole number from 1 up to 2^53, the largest a double holds exactly.
  const json_value* id = doc->find("id");
  if (!id || !id->as_number()) return std::nullopt;
  double n = *id->as_number();
  if (!(n >= 1 && n <= 9007199254740992.0) || std::floor(n) != n) return std::nullopt;
  server_view view;
  view.id = static_cast<std::uint64_t>(n);
  view.tuple = {std::move(*local), std::move(*remote)};
  if (const json_value* proto = doc->find("proto"); proto && proto->as_string() && *proto->as_string() == "udp")
    view.proto = "udp";
  // What a PROXY header told the server: only endpoints that are IP literals, like the rest.
  if (const json_value* proxy = doc->find("proxy"); proxy && proxy->find("version")) {
    proxy_claim claim;
    const json_value* version = proxy->find("version");
    if (version->as_number() && *version->as_number() == 2) claim.version = 2;
    const json_value* command = proxy->find("command");
    claim.local = command && command->as_string() && *command->as_string() == "local";
    claim.source = endpoint_from(proxy->find("source"));
    claim.destination = endpoint_from(proxy->find("destination"));
    view.proxy = std::move(claim);
  }
  return view;
}

std::string render_client_view(const socket_tuple& view) {
  std::string out(client_view_tag);
  out += to_string(view.local);
  out += ' ';
  out += to_string(view.remote);
  out += '\n';
  return out;
}

namespace {

// "10.0.0.1:80" or "[::1]:80", exactly: an IP literal and a decimal port without leading zeros.
std::optional<endpoint> endpoint_text(std::string_view s) {
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon + 1 >= s.size() || s.size() - colon - 1 > 5) return std::nullopt;
  std::string_view address = s.substr(0, colon);
  const std::string_view digits = s.substr(colon + 1);
  if (digits.size() > 1 && digits.front() == '0') return std::nullopt;
  unsigned port = 0;
  for (char ch : digits) {
    if (ch < '0' || ch > '9') return std::nullopt;
    port = port * 10 + static_cast<unsigned>(ch - '0');
  }
  if (port > 65535) return std::nullopt;
  const bool bracketed = address.size() >= 2 && address.front() == '[' && address.back() == ']';
  if (bracketed) address = address.substr(1, address.size() - 2);
  if (!is_ip_address(address)) return std::nullopt;
  const bool v6 = address.find(':') != std::string_view::npos;
  if (v6 != bracketed) return std::nullopt;
  return endpoint{std::string(address), static_cast<std::uint16_t>(port)};
}

}  // namespace

std::optional<socket_tuple> parse_client_view(std::string_view line) {
  if (line.size() > client_view_max || line.size() <= client_view_tag.size() || line.back() != '\n' ||
      line.substr(0, client_view_tag.size()) != client_view_tag)
    return std::nullopt;
  line.remove_prefix(client_view_tag.size());
  line.remove_suffix(1);
  const auto space = line.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  auto local = endpoint_text(line.substr(0, space));
  auto remote = endpoint_text(line.substr(space + 1));
  if (!local || !remote) return std::nullopt;
  return socket_tuple{std::move(*local), std::move(*remote)};
}

bool could_be_client_view(std::string_view after) noexcept {
  if (after.size() <= client_view_tag.size()) return client_view_tag.substr(0, after.size()) == after;
  return after.size() < client_view_max && after.substr(0, client_view_tag.size()) == client_view_tag &&
         after.find('\n') == std::string_view::npos;
}

bool is_hello_line(std::string_view line) noexcept { return line == client_hello || line == client_hello_hold; }

raw_message raw_message_of(std::string_view line, std::string_view rest) {
  raw_message m{line, std::nullopt};
  if (is_hello_line(line)) m.client_view = parse_client_view(rest);
  return m;
}

raw_message split_raw_message(std::string_view bytes) {
  const auto newline = bytes.find('\n');
  const std::string_view line = newline == std::string_view::npos ? bytes : bytes.substr(0, newline + 1);
  return raw_message_of(line, bytes.substr(line.size()));
}

bool could_be_hello(std::string_view received) noexcept {
  for (std::string_view hello : {client_hello, client_hello_hold}) {
    if (received.size() <= hello.size() && hello.substr(0, received.size()) == received) return true;
  }
  return false;
}

line_collector::state line_collector::feed(std::string_view bytes) {
  received_ += bytes.size();
  const auto keep_rest = [this](std::string_view after) {
    rest_.append(after.substr(0, client_view_max - std::min(client_view_max, rest_.size())));
  };
  if (state_ == state::complete) keep_rest(bytes);
  if (state_ != state::incomplete) return state_;
  const std::size_t room = limit_ - line_.size();
  std::size_t newline = bytes.substr(0, room).find('\n');
  if (newline != std::string_view::npos) {
    line_.append(bytes.substr(0, newline + 1));
    state_ = state::complete;
    keep_rest(bytes.substr(newline + 1));
  } else {
    line_.append(bytes.substr(0, room));
    if (line_.size() >= limit_) state_ = state::too_long;
  }
  return state_;
}

}  // namespace portdemo
