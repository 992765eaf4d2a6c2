#include "portdemo/board.hpp"
#include "portdemo/sse.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include <fmt/format.h>

#include "portdemo/json.hpp"
#include "portdemo/protocol.hpp"
#include "portdemo/services.hpp"

namespace portdemo {

std::string mask_address(std::string_view address) {
  if (address.find('\0') != std::string_view::npos) return "*";  // inet_pton would stop at the NUL
  std::string text(address);
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    const auto* b = reinterpret_cast<const unsigned char*>(&v4);
    return fmt::format("*.*.*.{}", b[3]);
  }
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    const unsigned char* b = v6.s6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) return fmt::format("*.*.*.{}", b[15]);
    return fmt::format("*::{:x}", (b[14] << 8) | b[15]);
  }
  return "*";
}

board_model::board_model(std::optional<port_range> ephemeral, bool mask, std::size_t max_subscribers)
    : span_(ephemeral.value_or(port_range{49152, 65535})),
      ephemeral_known_(ephemeral.has_value()),
      mask_(mask),
      max_subscribers_(max_subscribers) {
  if (span_.high < span_.low) span_ = port_range{49152, 65535};
}

void board_model::add_port(board_port port) {
  const bool known = std::any_of(ports_.begin(), ports_.end(), [&](const port_count& c) {
    return c.port.local.port == port.local.port && c.port.proto == port.proto;
  });
  if (!known) ports_.push_back({port, 0});
  listening_.push_back(std::move(port));
}

void board_model::set_join(std::vector<std::string> urls, std::optional<qr_code> qr) {
  join_ = std::move(urls);
  qr_ = std::move(qr);
}

void board_model::connection(std::uint64_t id, const socket_tuple& tuple, bool udp, bool tls_port,
                             std::int64_t at_ms) {
  ++connections_;
  const char* proto = udp ? "udp" : "tcp";
  for (auto& c : ports_) {
    if (c.port.local.port == tuple.local.port && c.port.proto == proto) {
      ++c.connections;
      break;
    }
  }
  const std::uint16_t port = tuple.remote.port;
  if (port < span_.low) {
    ++below_;
  } else if (port > span_.high) {
    ++above_;
  } else {
    const std::size_t width = std::size_t{span_.high} - span_.low + 1;
    ++buckets_[(std::size_t{port} - span_.low) * bucket_count / width];
  }
  // Connections per client address: a room behind one NAT is many clients on one address.
  auto it = distinct_.find(tuple.remote.address);
  if (it == distinct_.end() && distinct_.size() < distinct_limit) it = distinct_.emplace(tuple.remote.address, 0).first;
  if (it != distinct_.end() && ++it->second > busiest_count_) {
    busiest_count_ = it->second;
    if (busiest_ != it->first) busiest_ = it->first;
  }

  // Into the ring; assigning reuses the strings' storage once the ring has gone round.
  entry& e = recent_[id % recent_kept];
  e.id = id;
  e.tuple = tuple;
  e.udp = udp;
  e.tls_port = tls_port;
  e.requests = 0;
  e.at_ms = at_ms;
  e.between = path::direct;
  newest_ = std::max(newest_, id);
  if (subscribers_ == 0) return;
  pending_ids_[pending_count_ % batch_limit] = id;
  ++pending_count_;
}

void board_model::request(std::uint64_t id, std::uint64_t number, std::string_view method, std::string_view target,
                          int status, std::string_view tls_version, http_version http) {
  entry& e = recent_[id % recent_kept];
  if (e.id == id) {
    e.requests = number;
    e.http = http;
  }
  if (subscribers_ == 0) return;
  if (pending_requests_.size() >= batch_limit) {
    ++skipped_requests_;
    return;
  }
  pending_requests_.push_back(
      {id, number, std::string(method.substr(0, 64)), std::string(target.substr(0, 256)), status,
       std::string(tls_version), http});
}

namespace {
const char* path_name(board_model::path p) {
  switch (p) {
    case board_model::path::direct: return "direct";
    case board_model::path::source_nat: return "source_nat";
    case board_model::path::destination_nat: return "destination_nat";
    case board_model::path::source_and_destination_nat: return "source_and_destination_nat";
    case board_model::path::via_proxy: return "via_proxy";
  }
  return "direct";
}
}  // namespace

void board_model::mark(std::uint64_t id, path p) {
  entry& e = recent_[id % recent_kept];
  if (e.id == id) {
    if (e.between == p) return;
    // A connection through a proxy keeps that mark: its own views differ because of the proxy.
    if (e.between == path::via_proxy) return;
    if (e.between != path::direct) --paths_[static_cast<std::size_t>(e.between)];
    e.between = p;
  }
  ++paths_[static_cast<std::size_t>(p)];
  if (subscribers_ == 0 || pending_marks_.size() >= batch_limit) return;
  pending_marks_.emplace_back(id, p);
}

void board_model::append_connection(std::string& out, const entry& e) const {
  socket_tuple shown = e.tuple;
  if (mask_) shown.remote.address = mask_address(shown.remote.address);
  const char* in_range = ephemeral_known_ ? (span_.contains(e.tuple.remote.port) ? "true" : "false") : "null";
  out += fmt::format("{{\"id\":{},\"proto\":\"{}\",\"tls_port\":{},\"local\":{},\"remote\":{},\"service\":", e.id,
                     e.udp ? "udp" : "tcp", e.tls_port ? "true" : "false", endpoint_json(shown.local),
                     endpoint_json(shown.remote));
  append_json_string(out, describe_port(e.tuple.local.port));
  out += fmt::format(",\"in_ephemeral_range\":{},\"requests\":{},\"at\":{},\"path\":\"{}\",\"protocol\":{}}}",
                     in_range, e.requests, e.at_ms, path_name(e.between),
                     e.requests > 0 ? json_string(protocol_name(e.http)) : std::string("null"));
}

std::string board_model::totals_json() const {
  std::string out = fmt::format("{{\"connections\":{},\"distinct_clients\":{},\"per_port\":[", connections_,
                                distinct_.size());
  for (std::size_t i = 0; i < ports_.size(); ++i) {
    const port_count& c = ports_[i];
    if (i) out += ',';
    out += fmt::format("{{\"port\":{},\"proto\":\"{}\",\"tls\":{},\"service\":", c.port.local.port, c.port.proto,
                       c.port.tls ? "true" : "false");
    append_json_string(out, describe_port(c.port.local.port));
    out += fmt::format(",\"connections\":{}}}", c.connections);
  }
  out += fmt::format("],\"histogram\":{{\"low\":{},\"high\":{},\"buckets\":[{}],\"below\":{},\"above\":{}}},"
                     "\"subscribers\":{},\"paths\":{{\"source_nat\":{},\"destination_nat\":{},"
                     "\"source_and_destination_nat\":{},\"via_proxy\":{}}},\"busiest_address\":",
                     span_.low, span_.high, fmt::join(buckets_, ","), below_, above_, subscribers_, paths_[1], paths_[2],
                     paths_[3], paths_[4]);
  // The address most connections came from: many behind one address are one NAT's clients.
  if (busiest_count_ == 0) {
    out += "null";
  } else {
    out += "{\"address\":";
    append_json_string(out, mask_ ? mask_address(busiest_) : busiest_);
    out += fmt::format(",\"connections\":{}}}", busiest_count_);
  }
  out += '}';
  return out;
}

std::string board_model::snapshot() const {
  std::string out;
  sse::begin(out, "snapshot");
  out += "{\"server\":{\"listening\":[";
  for (std::size_t i = 0; i < listening_.size(); ++i) {
    const board_port& p = listening_[i];
    if (i) out += ',';
    out += fmt::format("{{\"address\":{},\"port\":{},\"proto\":\"{}\",\"tls\":{},\"service\":",
                       json_string(p.local.address), p.local.port, p.proto, p.tls ? "true" : "false");
    append_json_string(out, describe_port(p.local.port));
    out += '}';
  }
  out += "],\"ephemeral\":";
  out += ephemeral_known_ ? fmt::format("{{\"low\":{},\"high\":{}}}", span_.low, span_.high) : "null";
  out += ",\"join\":[";
  for (std::size_t i = 0; i < join_.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, join_[i]);
  }
  out += "],\"qr\":";
  if (qr_) {
    out += '[';
    for (std::size_t i = 0; i < qr_->rows.size(); ++i) {
      if (i) out += ',';
      append_json_string(out, qr_->rows[i]);
    }
    out += ']';
  } else {
    out += "null";
  }
  out += fmt::format(",\"masked\":{},\"max_subscribers\":{}}},\"totals\":", mask_ ? "true" : "false",
                     max_subscribers_);
  out += totals_json();
  out += ",\"recent\":[";
  // Newest first: down from the newest id, as far as the ring remembers.
  std::size_t shown = 0;
  for (std::uint64_t id = newest_; id > 0 && newest_ - id < recent_kept && shown < recent_shown; --id) {
    const entry& e = recent_[id % recent_kept];
    if (e.id != id) continue;
    if (shown++) out += ',';
    append_connection(out, e);
  }
  out += "]}";
  sse::end(out);
  return out;
}

std::string board_model::take_batch() {
  std::string out;
  // The newest of the batch's connections, oldest first (the page puts each on top).
  const std::size_t sent = std::min(pending_count_, batch_limit);
  if (pending_count_ > sent || skipped_requests_ > 0)
    sse::event(out, "coalesced",
               fmt::format("{{\"skipped\":{},\"skipped_requests\":{}}}", pending_count_ - sent, skipped_requests_));
  for (std::size_t k = pending_count_ - sent; k < pending_count_; ++k) {
    const std::uint64_t id = pending_ids_[k % batch_limit];
    const entry& e = recent_[id % recent_kept];
    if (e.id != id) continue;
    sse::begin(out, "connection");
    append_connection(out, e);
    sse::end(out);
  }
  for (const pending_request& r : pending_requests_) {
    sse::begin(out, "request");
    out += fmt::format("{{\"id\":{},\"request\":{},\"method\":", r.id, r.number);
    append_json_string(out, r.method);
    out += ",\"target\":";
    append_json_string(out, r.target);
    out += fmt::format(",\"status\":{},\"tls\":", r.status);
    append_json_string(out, r.tls);
    out += ",\"protocol\":";
    append_json_string(out, protocol_name(r.http));
    out += '}';
    sse::end(out);
  }
  for (const auto& [id, p] : pending_marks_)
    sse::event(out, "path", fmt::format("{{\"id\":{},\"path\":\"{}\"}}", id, path_name(p)));
  sse::event(out, "totals", totals_json());
  pending_count_ = 0;
  pending_requests_.clear();
  pending_marks_.clear();
  skipped_requests_ = 0;
  return out;
}

}  // namespace portdemo
