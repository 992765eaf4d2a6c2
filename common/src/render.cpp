// All wording of reports, in text for people and in JSON lines for programs.

#include "portdemo/render.hpp"

#include "portdemo/qr.hpp"

#include <algorithm>
#include <set>

#include <fmt/color.h>
#include <fmt/format.h>

#include "portdemo/json.hpp"
#include "portdemo/limits.hpp"
#include "portdemo/qr.hpp"
#include "portdemo/services.hpp"
#include "portdemo/translation.hpp"
#include "portdemo/web.hpp"

namespace portdemo {

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

namespace {

// The most of a client's bytes the server logs, escaped (issue: nothing a client sends may
// rewrite the lecturer's terminal).
constexpr std::size_t max_logged_bytes = 200;

std::string json_opt_string(const std::string& s) { return s.empty() ? "null" : json_string(s); }

// "65534\t65534\t65534" (a /proc/self/status line) as [65534,65534,65534]; non-numbers are left out.
std::string json_numbers(std::string_view text) {
  std::string out = "[";
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] < '0' || text[i] > '9')) ++i;
    std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    if (i > start) {
      if (out.size() > 1) out += ',';
      out.append(text.substr(start, i - start));
    }
  }
  return out + "]";
}

template <typename T>
std::string json_opt(const std::optional<T>& v) {
  if (!v) return "null";
  if constexpr (std::is_same_v<T, bool>) return *v ? "true" : "false";
  else return fmt::format("{}", *v);
}

std::string json_range(const std::optional<port_range>& r) {
  if (!r) return "null";
  return fmt::format("{{\"low\":{},\"high\":{}}}", r->low, r->high);
}

std::string json_tuple(const socket_tuple& t) {
  std::string out = "\"local\":";
  out += endpoint_json(t.local);
  out += ",\"remote\":";
  out += endpoint_json(t.remote);
  return out;
}

template <typename T>
std::string json_list(const std::vector<T>& items);

std::string json_change(const std::optional<endpoint_change>& c) {
  if (!c) return "null";
  return fmt::format("{{\"before\":{},\"after\":{},\"address_rewritten\":{},\"port_rewritten\":{},"
                     "\"after_port_class\":{}}}",
                     endpoint_json(c->before), endpoint_json(c->after), c->address, c->port,
                     json_string(to_string(classify(c->after.port))));
}

// {"kind":"source_nat","source":{...}|null,"destination":{...}|null,"destination_address_known":true}
std::string json_translation(const translation& t) {
  return fmt::format("{{\"kind\":{},\"source\":{},\"destination\":{},\"destination_address_known\":{}}}",
                     json_string(t.kind()), json_change(t.source), json_change(t.destination),
                     !t.destination_address_unknown);
}

// The failure's fields; "holders" and "local_addresses" only when the networking code found them.
std::string json_failure(const failure& f, const explanation& why) {
  std::string out = fmt::format("\"step\":{},\"errno\":{},\"message\":{},\"explanation\":{}",
                                json_string(to_string(f.where)), json_string(f.error),
                                json_string(f.system_message), json_string(to_paragraph(why)));
  if (!f.holders.empty()) {
    out += ",\"holders\":[";
    for (std::size_t i = 0; i < f.holders.size(); ++i) {
      const port_user& u = f.holders[i];
      if (i) out += ',';
      out += fmt::format("{{\"local\":{},\"remote\":{},\"state\":{},\"uid\":{},\"pid\":{},\"command\":{}}}",
                         endpoint_json(u.socket.local), endpoint_json(u.socket.remote),
                         json_string(to_string(u.socket.state)), u.socket.uid,
                         u.owner ? std::to_string(u.owner->pid) : "null",
                         u.owner ? json_string(u.owner->command) : "null");
    }
    out += ']';
  }
  if (!f.local_addresses.empty()) out += ",\"local_addresses\":" + json_list(f.local_addresses);
  return out;
}

template <typename T>
std::string json_list(const std::vector<T>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    if constexpr (std::is_same_v<T, std::string>) out += json_string(items[i]);
    else out += fmt::format("{}", items[i]);
  }
  return out + "]";
}

struct json_visitor {
  std::string operator()(const host_facts_event& e) const {
    const host_facts& f = e.facts;
    return fmt::format(
        "{{\"event\":\"host_facts\",\"role\":{},\"ephemeral_range\":{},"
        "\"iana_dynamic_range\":{},\"unprivileged_port_start\":{},\"root\":{},"
        "\"cap_net_bind_service\":{}}}",
        json_string(e.who == role::server ? "server" : "client"), json_range(f.ephemeral),
        json_range(iana_dynamic_range), json_opt(f.unprivileged_port_start), f.root,
        f.cap_net_bind_service);
  }
  std::string operator()(const listening_event& e) const {
    return fmt::format(
        "{{\"event\":\"listening\",\"proto\":{},\"local\":{},\"port_class\":{},"
        "\"service\":{},\"requested_port\":{},\"privileged_allowed_by\":{},\"tls\":{},\"bound_by\":{}}}",
        json_string(e.proto), endpoint_json(e.local), json_string(to_string(classify(e.local.port))),
        json_opt_string(e.service), e.requested_port,
        e.privilege ? json_string(*e.privilege) : "null", e.tls, e.inherited ? "\"parent\"" : "\"self\"");
  }
  std::string operator()(const privileges_dropped_event& e) const {
    return fmt::format("{{\"event\":\"privileges_dropped\",\"user\":{},\"uid\":{},\"gid\":{},\"uids\":{},"
                       "\"gids\":{},\"groups\":{},\"cap_effective\":{},\"cap_permitted\":{},"
                       "\"no_new_privs\":{},\"setuid_0\":{}}}",
                       json_string(e.user), e.uid, e.gid, json_numbers(e.uids), json_numbers(e.gids),
                       json_numbers(e.groups), json_string(e.cap_effective), json_string(e.cap_permitted),
                       e.no_new_privs, json_string(e.regain_error));
  }
  std::string operator()(const bind_failed_event& e) const {
    return fmt::format("{{\"event\":\"bind_failed\",\"proto\":{},\"local\":{},{}}}", json_string(e.what.proto),
                       endpoint_json(e.what.ep.value_or(endpoint{})), json_failure(e.what, e.why));
  }
  std::string operator()(const note_event& e) const {
    return fmt::format("{{\"event\":\"note\",\"code\":{},\"message\":{}}}", json_string(e.code),
                       json_string(e.message));
  }
  std::string operator()(const requests_summarised_event& e) const { return (*this)(as_note(e)); }
  std::string operator()(const board_subscriber_dropped_event& e) const { return (*this)(as_note(e)); }
  std::string operator()(const remark_event& e) const { return (*this)(as_note(e)); }
  std::string operator()(const join_event& e) const {
    std::string out = "{\"event\":\"join\",\"urls\":[";
    for (std::size_t i = 0; i < e.urls.size(); ++i) {
      if (i) out += ',';
      append_json_string(out, e.urls[i]);
    }
    out += "],\"board\":";
    append_json_string(out, e.board);
    out += ",\"qr\":";
    if (e.qr) {
      out += fmt::format("{{\"size\":{},\"rows\":[", e.qr->size);
      for (std::size_t i = 0; i < e.qr->rows.size(); ++i) {
        if (i) out += ',';
        append_json_string(out, e.qr->rows[i]);
      }
      out += "]}";
    } else {
      out += "null";
    }
    return out + "}";
  }
  std::string operator()(const ready_event& e) const {
    return fmt::format("{{\"event\":\"ready\",\"listening\":{},\"failed\":{},\"ports\":{},\"tls_ports\":{},"
                       "\"udp_ports\":{},\"quic_ports\":{}}}",
                       e.listening, e.failed, json_list(e.ports), json_list(e.tls_ports), json_list(e.udp_ports),
                       json_list(e.quic_ports));
  }
  std::string operator()(const accepted_event& e) const {
    return fmt::format(
        "{{\"event\":\"accepted\",\"proto\":\"tcp\",\"id\":{},{},\"remote_port_class\":{},"
        "\"in_ephemeral_range\":{},\"open\":{}}}",
        e.id, json_tuple(e.tuple), json_string(to_string(classify(e.tuple.remote.port))),
        json_opt(e.in_ephemeral_range), e.open);
  }
  std::string operator()(const datagram_event& e) const {
    return fmt::format("{{\"event\":\"datagram\",\"proto\":\"udp\",\"id\":{},{},\"bytes\":{},"
                       "\"remote_port_class\":{},\"in_ephemeral_range\":{}}}",
                       e.id, json_tuple(e.tuple), e.bytes, json_string(to_string(classify(e.tuple.remote.port))),
                       json_opt(e.in_ephemeral_range));
  }
  std::string operator()(const answered_event& e) const {
    // With demo-client's own view: that view, and what differs from the server's.
    std::string views;
    if (e.both) {
      views = fmt::format(",\"client_view\":{{{}}},\"translation\":{}", json_tuple(e.both->client),
                          json_translation(compare_views(e.both->client, e.both->server)));
    }
    return fmt::format("{{\"event\":\"answered\",\"id\":{},\"report\":{},\"received_bytes\":{},"
                       "\"received\":{}{}}}",
                       e.id, json_string(e.json ? "json" : "text"), e.received_bytes,
                       json_string(printable(e.received, max_logged_bytes)), views);
  }
  std::string operator()(const proxied_event& e) const {
    return fmt::format("{{\"event\":\"proxied\",\"id\":{},{},\"family\":{},\"proxy\":{}}}", e.id,
                       json_tuple(e.tuple), json_string(e.family), proxy_claim_json(e.claim));
  }
  std::string operator()(const proxy_refused_event& e) const {
    return fmt::format("{{\"event\":\"proxy_refused\",\"id\":{},{},\"code\":{},\"reason\":{},\"received_bytes\":{}}}",
                       e.id, json_tuple(e.tuple), json_string(e.code), json_string(e.reason), e.received_bytes);
  }
  std::string operator()(const http_request_event& e) const {
    // Appended piece by piece, not formatted: a kept-alive client makes one of these per request.
    std::string out;
    out.reserve(256);
    const auto number = [&out](std::uint64_t n) {
      const fmt::format_int digits(n);
      out.append(digits.data(), digits.size());
    };
    out += "{\"event\":\"http_request\",\"id\":";
    number(e.id);
    out += ',';
    out += json_tuple(e.tuple);
    out += ",\"method\":";
    append_json_string(out, printable(e.method, 32));
    out += ",\"path\":";
    append_json_string(out, printable(e.target, max_logged_bytes));
    out += ",\"status\":";
    number(static_cast<std::uint64_t>(e.status));
    out += ",\"request\":";
    number(e.request_number);
    out += e.request_number > 1 ? ",\"reused\":true,\"tls\":" : ",\"reused\":false,\"tls\":";
    out += json_opt_string(e.tls_version);
    out += ",\"note\":";
    out += json_opt_string(e.note);
    out += ",\"protocol\":";
    append_json_string(out, protocol_name(e.version));
    out += ",\"stream\":";
    if (e.version == http_version::http1) out += "null";
    else number(static_cast<std::uint64_t>(e.stream));
    out += '}';
    return out;
  }
  std::string operator()(const http2_exchanged_event& e) const {
    std::string answers;
    bool one_port = !e.answers.empty();
    for (const http2_answer_seen& a : e.answers) {
      if (!answers.empty()) answers += ',';
      answers += fmt::format("{{\"stream\":{},\"status\":{},\"server_view\":{},\"server_id\":{},"
                             "\"server_request\":{},\"server_stream\":{}}}",
                             a.stream, a.status,
                             a.server_view ? "{" + json_tuple(*a.server_view) + "}" : std::string("null"),
                             a.server_id ? std::to_string(*a.server_id) : std::string("null"), a.server_request,
                             a.server_stream);
      if (!a.server_view || a.server_view->remote.port != e.tuple.local.port) one_port = false;
    }
    const std::string tls = e.tls ? fmt::format("{{\"version\":{},\"cipher\":{},\"alpn\":{},\"verification\":{}}}",
                                                json_string(e.tls->version), json_string(e.tls->cipher),
                                                json_string(e.tls->alpn), json_string(e.tls->verification))
                                  : "null";
    return fmt::format("{{\"event\":\"http2_exchanged\",\"id\":{},{},\"answers\":[{}],\"one_port\":{},"
                       "\"problem\":{},\"tls\":{}}}",
                       e.id, json_tuple(e.tuple), answers, one_port ? "true" : "false", json_opt_string(e.problem), tls);
  }
  std::string operator()(const http2_failed_event& e) const {
    return fmt::format("{{\"event\":\"http2_failed\",\"proto\":\"tcp\",\"code\":{},{},\"detail\":{},"
                       "\"explanation\":{},\"exit_code\":{}}}",
                       json_string(e.code), json_tuple(e.tuple), json_opt_string(e.detail),
                       json_string(to_paragraph(e.why)), e.exit_code);
  }
  std::string operator()(const http2_closed_event& e) const {
    return fmt::format("{{\"event\":\"http2_closed\",\"id\":{},{},\"requests\":{},\"most_at_once\":{},"
                       "\"reason\":{},\"tls\":{}}}",
                       e.id, json_tuple(e.tuple), e.requests, e.most_at_once, json_string(e.reason),
                       e.tls ? "true" : "false");
  }
  std::string operator()(const quic_connected_event& e) const {
    return fmt::format("{{\"event\":\"quic_connected\",\"proto\":\"udp\",\"id\":{},{},\"client_cid\":{},"
                       "\"server_cid\":{},\"version\":{},\"alpn\":{}}}",
                       e.id, json_tuple(e.tuple), json_string(e.client_cid), json_string(e.server_cid),
                       json_string(e.version), json_string(e.alpn));
  }
  std::string operator()(const quic_migrated_event& e) const {
    return fmt::format("{{\"event\":\"quic_migrated\",\"proto\":\"udp\",\"id\":{},\"from\":{{{}}},\"to\":{{{}}},"
                       "\"server_cid\":{},\"migrations\":{},\"address_changed\":{},\"port_changed\":{}}}",
                       e.id, json_tuple(e.from), json_tuple(e.to), json_string(e.server_cid), e.migrations,
                       e.from.remote.address != e.to.remote.address ? "true" : "false",
                       e.from.remote.port != e.to.remote.port ? "true" : "false");
  }
  std::string operator()(const quic_closed_event& e) const {
    return fmt::format("{{\"event\":\"quic_closed\",\"proto\":\"udp\",\"id\":{},{},\"requests\":{},"
                       "\"migrations\":{},\"reason\":{}}}",
                       e.id, json_tuple(e.tuple), e.requests, e.migrations, json_string(e.reason));
  }
  std::string operator()(const tls_failed_event& e) const {
    return fmt::format("{{\"event\":\"tls_failed\",\"id\":{},{},\"reason\":{},\"explanation\":{}}}", e.id,
                       json_tuple(e.tuple), json_string(e.reason), json_string(e.explanation));
  }
  std::string operator()(const tls_certificate_event& e) const {
    return fmt::format("{{\"event\":\"tls_certificate\",\"source\":{},\"subject\":{},\"names\":{},"
                       "\"sha256\":{},\"saved_to\":{}}}",
                       json_string(e.source), json_string(e.subject), json_string(e.names), json_string(e.sha256),
                       json_opt_string(e.saved_to));
  }
  std::string operator()(const accept_failed_event& e) const {
    return fmt::format("{{\"event\":\"accept_failed\",\"proto\":\"tcp\",\"local\":{},{}}}",
                       endpoint_json(e.what.ep.value_or(endpoint{})), json_failure(e.what, e.why));
  }
  std::string operator()(const accept_resumed_event& e) const {
    return fmt::format("{{\"event\":\"accept_resumed\",\"proto\":\"tcp\",\"local\":{},\"failures\":{}}}",
                       endpoint_json(e.local), e.failures);
  }
  std::string operator()(const limit_event& e) const {
    return fmt::format("{{\"event\":\"limit\",\"id\":{},{},\"limit\":{},\"{}\":{},\"received_bytes\":{},"
                       "\"answered\":{}}}",
                       e.id, json_tuple(e.tuple), json_string(to_string(e.kind)),
                       e.kind == limit_kind::line_too_long ? "limit_bytes" : "limit_ms", e.limit, e.received,
                       e.answered);
  }
  std::string operator()(const busy_event& e) const {
    return fmt::format("{{\"event\":\"busy\",\"id\":{},{},\"open\":{},\"max_connections\":{}}}", e.id,
                       json_tuple(e.tuple), e.open, e.max);
  }
  std::string operator()(const stopping_event& e) const {
    return fmt::format("{{\"event\":\"stopping\",\"signal\":{},\"open\":{},\"grace_ms\":{}}}",
                       json_string(e.signal), e.open, e.grace_ms);
  }
  std::string operator()(const gave_up_event& e) const {
    std::string attempts = "[";
    for (std::size_t i = 0; i < e.attempts.size(); ++i) {
      const failure& f = e.attempts[i];
      if (i) attempts += ',';
      attempts += fmt::format("{{\"remote\":{},\"step\":{},\"errno\":{}}}",
                              endpoint_json(f.ep.value_or(endpoint{})), json_string(to_string(f.where)),
                              json_string(f.error));
    }
    attempts += ']';
    return fmt::format("{{\"event\":\"gave_up\",\"host\":{},\"port\":{},\"attempts\":{},\"exit_code\":{}}}",
                       json_string(e.host), e.port, attempts, e.exit_code);
  }
  std::string operator()(const server_summary_event& e) const {
    std::string per_port = "[";
    for (std::size_t i = 0; i < e.per_port.size(); ++i) {
      if (i) per_port += ',';
      const port_count& pc = e.per_port[i];
      if (pc.proto == "udp")
        per_port += fmt::format("{{\"port\":{},\"proto\":\"udp\",\"datagrams\":{}}}", pc.port, pc.connections);
      else if (pc.proto == "quic")
        per_port += fmt::format("{{\"port\":{},\"proto\":\"quic\",\"connections\":{}}}", pc.port, pc.connections);
      else
        per_port += fmt::format("{{\"port\":{},\"connections\":{}}}", pc.port, pc.connections);
    }
    per_port += ']';
    return fmt::format(
        "{{\"event\":\"summary\",\"role\":\"server\",\"connections\":{},\"per_port\":{},"
        "\"distinct_client_ports\":{},\"lowest_client_port\":{},\"highest_client_port\":{},"
        "\"peak_open\":{},\"busy\":{},\"limited\":{},\"cut_at_shutdown\":{},\"log_dropped\":{}}}",
        e.connections, per_port, e.distinct_client_ports, json_opt(e.lowest_client_port),
        json_opt(e.highest_client_port), e.peak_open, e.busy, e.limited, e.cut, e.log_dropped);
  }
  std::string operator()(const resolved_event& e) const {
    return fmt::format("{{\"event\":\"resolved\",\"host\":{},\"port\":{},\"addresses\":{}}}",
                       json_string(e.host), e.port, json_list(e.addresses));
  }
  std::string operator()(const resolve_failed_event& e) const {
    return fmt::format("{{\"event\":\"resolve_failed\",\"host\":{},{}}}", json_string(e.what.host),
                       json_failure(e.what, e.why));
  }
  std::string operator()(const connect_failed_event& e) const {
    // "local": the client's own end, when --source-port pinned it.
    std::string local = e.what.local ? fmt::format(",\"local\":{},\"local_port_chosen_by\":{}", endpoint_json(*e.what.local),
                                                   json_string(e.what.local_pinned ? "user" : "kernel"))
                                     : "";
    return fmt::format("{{\"event\":\"connect_failed\",\"proto\":{},\"remote\":{}{},{}}}",
                       json_string(e.what.proto), endpoint_json(e.what.ep.value_or(endpoint{})), local,
                       json_failure(e.what, e.why));
  }
  std::string operator()(const connected_event& e) const {
    std::string view = "null";
    if (e.server_view) {
      view = fmt::format("{{\"id\":{},{}{}}}", json_opt(e.server_id), json_tuple(*e.server_view),
                         e.server_told ? ",\"proxy\":" + proxy_claim_json(*e.server_told) : std::string());
    }
    std::string mirror = e.server_view ? (is_mirror(e.tuple, *e.server_view) ? "true" : "false") : "null";
    const std::string translated = e.server_view ? json_translation(compare_views(e.tuple, *e.server_view)) : "null";
    // Without a view, say why, as the text does.
    std::string problem = e.server_view ? "" : ",\"server_view_problem\":" + json_string(e.server_view_problem);
    // UDP has no connection: its event is "exchanged" (one datagram each way), same fields.
    return fmt::format(
        "{{\"event\":{},\"proto\":{},\"id\":{},{},\"local_port_class\":{},"
        "\"in_ephemeral_range\":{},\"local_port_chosen_by\":{},\"server_view\":{},\"mirror\":{},"
        "\"translation\":{}{}}}",
        json_string(e.proto == "udp" ? "exchanged" : "connected"), json_string(e.proto), e.id, json_tuple(e.tuple), json_string(to_string(classify(e.tuple.local.port))),
        json_opt(e.in_ephemeral_range), json_string(e.pinned ? "user" : "kernel"), view, mirror, translated, problem);
  }
  // The spread of the client ports, for runs with more than one connection.
  static std::string json_distribution(const client_summary_event& e) {
    if (e.client_ports.empty()) return "";
    port_distribution d = distribution(e.client_ports, e.ephemeral);
    return fmt::format(",\"parallel\":{},\"lowest_client_port\":{},\"highest_client_port\":{},"
                       "\"in_iana_dynamic_range\":{},\"even\":{},\"odd\":{},"
                       "\"histogram\":{{\"low\":{},\"high\":{},\"buckets\":{}}}",
                       e.parallel, d.lowest, d.highest, d.in_iana_dynamic, d.even, d.odd, d.histogram_range.low,
                       d.histogram_range.high, json_list(d.buckets));
  }
  std::string operator()(const verified_event& e) const {
    std::string mismatches = "[";
    for (std::size_t i = 0; i < e.mismatches.size(); ++i) {
      const verify_mismatch& m = e.mismatches[i];
      if (i) mismatches += ',';
      mismatches += fmt::format("{{\"id\":{},\"printed\":{{{}}},\"kernel\":{}}}", m.id, json_tuple(m.printed),
                                m.kernel ? "{" + json_tuple(*m.kernel) + "}" : std::string("null"));
    }
    mismatches += ']';
    return fmt::format("{{\"event\":\"verified\",\"checked\":{},\"matched\":{},\"mismatches\":{}}}", e.checked,
                       e.matched, mismatches);
  }
  std::string operator()(const client_summary_event& e) const {
    std::vector<std::uint16_t> server_ports;
    for (const auto& s : e.servers)
      if (std::find(server_ports.begin(), server_ports.end(), s.port) == server_ports.end())
        server_ports.push_back(s.port);
    return fmt::format(
        "{{\"event\":\"summary\",\"role\":\"client\",\"attempted\":{},\"connected\":{},"
        "\"server_ports\":{},\"client_ports\":{},\"distinct_client_ports\":{},"
        "\"in_ephemeral_range\":{},\"mirrored\":{},\"local_port_chosen_by\":{}{}}}",
        e.attempted, e.connected, json_list(server_ports), json_list(e.client_ports),
        e.distinct_client_ports, e.in_ephemeral_range, e.mirrored, json_string(e.pinned ? "user" : "kernel"),
        json_distribution(e));
  }
  std::string operator()(const http3_connected_event& e) const {
    return fmt::format(
        "{{\"event\":\"http3_connected\",\"proto\":\"udp\",{},\"local_port_class\":{},\"in_ephemeral_range\":{},"
        "\"local_port_chosen_by\":{},\"client_cid\":{},\"server_cid\":{},\"version\":{},\"alpn\":{},"
        "\"tls_version\":{},\"cipher\":{},\"certificate\":{{\"subject\":{},\"verified_by\":{},\"cacert\":{}}}}}",
        json_tuple(e.tuple), json_string(to_string(classify(e.tuple.local.port))), json_opt(e.in_ephemeral_range),
        json_string(e.pinned ? "user" : "kernel"), json_string(e.client_cid), json_string(e.server_cid),
        json_string(e.version), json_string(e.alpn), json_string(e.tls_version), json_string(e.cipher),
        json_string(e.certificate), json_string(e.verified_by), json_opt_string(e.cacert));
  }
  std::string operator()(const http3_response_event& e) const {
    std::string view = "null";
    if (e.server) {
      std::string quic = "null";
      if (e.quic)
        quic = fmt::format("{{\"client_cid\":{},\"server_cid\":{},\"migrations\":{},\"first_remote\":{}}}",
                           json_string(e.quic->client_cid), json_string(e.quic->server_cid), e.quic->migrations,
                           e.quic->first_remote ? endpoint_json(*e.quic->first_remote) : std::string("null"));
      view = fmt::format("{{\"id\":{},{},\"stream\":{},\"quic\":{}}}", e.server->id, json_tuple(e.server->tuple),
                         json_opt(e.server_stream), quic);
    }
    return fmt::format(
        "{{\"event\":\"http3_response\",\"proto\":\"udp\",\"request\":{},\"stream\":{},\"status\":{},{},"
        "\"server_view\":{},\"mirror\":{},\"translation\":{},\"ids_match\":{}{}}}",
        e.request, e.stream, e.status, json_tuple(e.tuple), view,
        e.server ? (is_mirror(e.tuple, e.server->tuple) ? "true" : "false") : "null",
        e.server ? json_translation(compare_views(e.tuple, e.server->tuple)) : "null", json_opt(e.ids_match),
        e.server ? "" : ",\"server_view_problem\":" + json_string(e.server_view_problem));
  }
  std::string operator()(const http3_rebound_event& e) const {
    return fmt::format("{{\"event\":\"http3_rebound\",\"proto\":\"udp\",\"from\":{{{}}},\"to\":{{{}}},"
                       "\"in_ephemeral_range\":{},\"how\":{},\"server_cid_before\":{},\"server_cid_after\":{}}}",
                       json_tuple(e.from), json_tuple(e.to), json_opt(e.in_ephemeral_range),
                       json_string(e.migration ? "migration" : "rebinding"), json_string(e.server_cid_before),
                       json_string(e.server_cid_after));
  }
  std::string operator()(const http3_failed_event& e) const {
    return fmt::format("{{\"event\":\"http3_failed\",\"proto\":\"udp\",\"code\":{},{},\"detail\":{},"
                       "\"explanation\":{},\"exit_code\":{}}}",
                       json_string(e.code), json_tuple(e.tuple), json_opt_string(e.detail),
                       json_string(to_paragraph(e.why)), e.exit_code);
  }
};

}  // namespace

line_answer answer_line(const raw_message& message, const server_view& view, const host_facts& facts,
                        std::size_t received, std::string_view logged) {
  line_answer a;
  a.hold = message.line == client_hello_hold;
  a.hello = a.hold || message.line == client_hello;
  a.bytes = a.hello ? render_server_view(view) : render_raw_client_report(view, facts);
  a.event = answered_event{view.id, a.hello, received, std::string(logged.substr(0, 512)), std::nullopt};
  if (message.client_view) a.event.both = answered_event::views{*message.client_view, view.tuple};
  return a;
}

note_event as_note(const requests_summarised_event& e) {
  return {"requests_summarised",
          fmt::format("{} more HTTP request{} on kept-alive connections, not logged one by one: each connection's "
                      "first {} are",
                      e.count, e.count == 1 ? "" : "s", e.logged_per_connection)};
}

note_event as_note(const board_subscriber_dropped_event& e) {
  const std::string why =
      e.backlog ? fmt::format("it took none of the last {} KiB of events", e.limit / 1024)
                : fmt::format("it took no events for {}", format_duration(std::chrono::milliseconds(e.limit)));
  return {"board_subscriber_dropped",
          fmt::format("board subscriber #{} ({}) dropped: {}", e.id, to_string(e.tuple.remote), why)};
}

namespace {
std::string_view plural(std::uint64_t n) { return n == 1 ? "" : "s"; }

struct remark_words {
  note_event operator()(const max_connections_clamped& r) const {
    return {"max_connections_clamped",
            fmt::format("--max-connections {} lowered to {}: the open-file limit is {} (ulimit -n), {} are in use "
                        "and {} kept in reserve",
                        r.requested, r.value, r.open_file_limit, r.in_use, r.reserve)};
  }
  note_event operator()(const reachable_from_network&) const {
    return {"reachable_from_network",
            "listening beyond loopback: other machines on the network can now connect to these ports"};
  }
  note_event operator()(const strict_refused& r) const {
    return {"strict", fmt::format("--strict: {} of {} sockets failed, so none will serve", r.failed, r.total)};
  }
  note_event operator()(const second_signal& r) const {
    return {"second_signal", fmt::format("second {}: ending at once", r.signal)};
  }
  note_event operator()(const socket_activation& r) const {
    return {"socket_activation",
            fmt::format("{} socket{} passed by the parent process (LISTEN_FDS): the parent bound them, this "
                        "process serves them; --ports and --bind are not used",
                        r.count, plural(static_cast<std::uint64_t>(r.count)))};
  }
  note_event operator()(const ipv6_unavailable& r) const {
    return {"ipv6_unavailable",
            fmt::format("the IPv6 loopback address ::1 is not available on this host ({}); serving IPv4 only",
                        r.error)};
  }
  note_event operator()(const holding_connections& r) const {
    return {"holding", fmt::format("holding {} connection{} open for {} s: see them with ss -tn 'dport = :{}'",
                                   r.count, plural(r.count), r.seconds, r.port)};
  }
  note_event operator()(const proxy_protocol_required& r) const {
    std::string ports;
    for (std::uint16_t p : r.ports) ports += (ports.empty() ? "" : ", ") + std::to_string(p);
    return {"proxy_protocol",
            fmt::format("port{} {}: each connection must begin with a PROXY protocol header (v1 or v2, as from "
                        "haproxy's send-proxy); what it says about the client is shown beside the socket's own "
                        "tuple, and on other ports such a header is not believed",
                        r.ports.size() == 1 ? "" : "s", ports)};
  }
  note_event operator()(const log_dropped& r) const {
    return {"log_dropped",
            fmt::format("{} log line{} dropped: the output could not keep up", r.count, plural(r.count))};
  }
};
}  // namespace

note_event as_note(const remark_event& e) { return std::visit(remark_words{}, e.what); }

std::string proxy_says(const proxy_claim& claim) {
  if (!claim.source) return "the proxy does not say who the client is (UNKNOWN or UNSPEC)";
  std::string out = "the proxy says the client is " + to_string(*claim.source);
  if (claim.destination) out += " (to " + to_string(*claim.destination) + ")";
  return out;
}

std::vector<std::string> describe_translation(const translation& t) {
  std::vector<std::string> out;
  const auto rewritten = [](const endpoint_change& c) {
    if (c.address && c.port)
      return fmt::format("address and port rewritten; {} is a {} port", c.after.port,
                         to_string(classify(c.after.port)));
    if (c.address) return std::string("address rewritten, port kept");
    return fmt::format("port rewritten, address kept; {} is a {} port", c.after.port,
                       to_string(classify(c.after.port)));
  };
  if (t.source) {
    out.push_back(fmt::format("source NAT: the client's end {} arrives at the server as {} ({})",
                              to_string(t.source->before), to_string(t.source->after), rewritten(*t.source)));
  }
  if (t.destination) {
    const std::string listens = t.destination_address_unknown
                                    ? fmt::format("the server's socket has port {}", t.destination->after.port)
                                    : fmt::format("the server listens on {}", to_string(t.destination->after));
    out.push_back(fmt::format("destination NAT (a port forward, a published container port): the client dialled "
                              "{}, {}",
                              to_string(t.destination->before), listens));
  }
  if (t.source && t.destination)
    out.push_back("both ends were rewritten: two NATs, or a proxy that takes the connection and opens its own");
  return out;
}

std::string render_json(const event& e) {
  std::string out = std::visit(json_visitor{}, e);
  out += '\n';
  return out;
}

// ---------------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------------

namespace {

// Columns a string takes on a terminal: ANSI escape sequences (ESC [ ... letter) take none.
std::size_t visible_size(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
      i += 2;
      while (i < s.size() && !(s[i] >= '@' && s[i] <= '~')) ++i;
      continue;
    }
    ++n;
  }
  return n;
}

}  // namespace

std::string wrap(std::string_view text, std::size_t width, std::size_t indent,
                 std::size_t first_indent) {
  std::string out(first_indent, ' ');
  std::size_t column = first_indent;
  bool line_empty = true;
  while (!text.empty()) {
    auto space = text.find(' ');
    std::string_view word = text.substr(0, space);
    text = space == std::string_view::npos ? std::string_view{} : text.substr(space + 1);
    if (word.empty()) continue;
    std::size_t word_size = visible_size(word);
    if (!line_empty && column + 1 + word_size > width) {
      out += '\n';
      out.append(indent, ' ');
      column = indent;
      line_empty = true;
    }
    if (!line_empty) {
      out += ' ';
      ++column;
    }
    out += word;
    column += word_size;
    line_empty = false;
  }
  return out + "\n";
}

std::string printable(std::string_view bytes, std::size_t max) {
  // At most `max` characters of escaped text, so an escape is never cut in half.
  std::string out;
  out.reserve(std::min(bytes.size(), max) + 3);
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    char piece[4];
    std::size_t n = 0;
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      piece[n++] = ch;
    } else if (c == '\n' || c == '\r') {
      piece[n++] = '\\';
      piece[n++] = c == '\n' ? 'n' : 'r';
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      piece[n++] = '\\';
      piece[n++] = 'x';
      piece[n++] = hex[c >> 4];
      piece[n++] = hex[c & 0xf];
    }
    if (out.size() + n > max) {
      out += "...";
      break;
    }
    out.append(piece, n);
  }
  return out;
}

namespace {

// Under 100 columns for a projector, with room for a prefix such as the demo's "  server | ".
constexpr std::size_t text_width = 88;

// The styles of the report. Basic ANSI colours read better on projectors than 24-bit ones.
const fmt::text_style fixed_style = fmt::emphasis::bold | fg(fmt::terminal_color::cyan);
const fmt::text_style ephemeral_style = fmt::emphasis::bold | fg(fmt::terminal_color::yellow);
const fmt::text_style good_style = fmt::emphasis::bold | fg(fmt::terminal_color::green);
const fmt::text_style bad_style = fmt::emphasis::bold | fg(fmt::terminal_color::red);
const fmt::text_style warn_style = fmt::emphasis::bold | fg(fmt::terminal_color::yellow);
const fmt::text_style dim_style = fmt::emphasis::bold;

std::string range_text(const std::optional<port_range>& r) {
  if (!r) return "unknown";
  return fmt::format("{}-{}", r->low, r->high);
}

// "head detail" on one line when it fits the width, else the detail on the next line(s),
// indented. Keeps long IPv6 endpoints from pushing lines past the projector's width.
std::string join(std::string head, const std::string& detail, std::size_t indent) {
  if (visible_size(head) + 1 + visible_size(detail) <= text_width) return head + " " + detail + "\n";
  while (!head.empty() && head.back() == ' ') head.pop_back();
  return head + "\n" + wrap(detail, text_width, indent, indent);
}

std::string port_list(const std::vector<std::uint16_t>& ports) {
  std::string out;
  for (std::size_t i = 0; i < ports.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(ports[i]);
  }
  return out;
}

}  // namespace

struct text_renderer::impl {
  text_renderer& r;

  // Why a well-known port could be bound, from bind_allowed_because()'s code.
  std::string allowed_text(const std::string& code) const {
    if (code == "cutoff")
      return fmt::format("not privileged here (cut-off {})", r.facts_.unprivileged_port_start.value_or(0));
    if (code == "root") return "privileged: root may bind it";
    if (code == "cap_net_bind_service") return "privileged: has CAP_NET_BIND_SERVICE";
    if (code == "parent") return "privileged: bound by the parent process, so this one needs no privilege";
    return "privileged, allowed for a reason not visible here";
  }

  std::string paint(std::string_view s, const fmt::text_style& style) const {
    if (!r.color_) return std::string(s);
    return fmt::format(style, "{}", s);
  }

  // An endpoint padded to `width` columns, painted: padding stays outside the colour codes.
  std::string ep(const endpoint& e, const fmt::text_style& style, std::size_t width = 0) const {
    std::string s = to_string(e);
    std::string pad = s.size() < width ? std::string(width - s.size(), ' ') : "";
    return paint(s, style) + pad;
  }

  // The explanation, or a pointer to it when the same step failed the same way on the same port
  // a moment ago (127.0.0.1, then ::1): a projector shows it once.
  std::string once(const failure& f, const explanation& e) const {
    std::string key = fmt::format("{}/{}/{}", to_string(f.where), f.error, f.ep.value_or(endpoint{}).port);
    if (r.explained_failures_.contains(key)) return "  (the same reason as above)\n";
    r.explained_failures_.insert(key);
    return explanation_lines(e);
  }

  std::string explanation_lines(const explanation& e) const {
    // what, then "why:" and "try:" with their continuation lines aligned after the label.
    std::string out = wrap(e.what, text_width, 2, 2);
    if (!e.why.empty()) out += wrap("why: " + e.why, text_width, 7, 2);
    for (std::size_t i = 0; i < e.tries.size(); ++i) {
      const suggestion& t = e.tries[i];
      std::string line = wrap(i == 0 ? "try: " + t.text : t.text, text_width, 7, i == 0 ? 2 : 7);
      if (!t.command.empty()) {
        // The command stays whole, so it can be copied: on the same line if it fits, else below.
        line.pop_back();
        std::size_t last_line = line.size() - (line.rfind('\n') == std::string::npos ? 0 : line.rfind('\n') + 1);
        if (last_line + 2 + t.command.size() <= text_width) line += "  " + paint(t.command, dim_style);
        else line += "\n         " + paint(t.command, dim_style);
        line += '\n';
      }
      out += line;
    }
    return out;
  }

  std::string operator()(const host_facts_event& e) const {
    const host_facts& f = e.facts;
    // Two facts, each with the sysctl it was read from, aligned in a column.
    auto fact = [](bool first, const std::string& text, std::string_view source) {
      return fmt::format("{:<11}{:<38} ({})\n", first ? "this host:" : "", text, source);
    };
    std::string out = fact(true, "ephemeral (client) ports " + range_text(f.ephemeral),
                           "net.ipv4.ip_local_port_range");
    if (e.who == role::client) return out;
    constexpr std::string_view cutoff_source = "net.ipv4.ip_unprivileged_port_start";
    if (!f.unprivileged_port_start) return out + fact(false, "privileged ports: unknown", cutoff_source);
    if (*f.unprivileged_port_start == 0)
      return out + fact(false, "no privileged ports: cut-off 0", cutoff_source) +
             "           (as in containers: any process may bind any port)\n";
    out += fact(false, fmt::format("privileged ports below {}", *f.unprivileged_port_start),
                cutoff_source);
    auto reason = privilege_reason(f);
    std::string who = reason ? (*reason == "root" ? "this process may bind them: it runs as root"
                                                  : "this process may bind them: it holds "
                                                    "CAP_NET_BIND_SERVICE")
                      : f.root ? "this process may not bind them: root, but without "
                                 "CAP_NET_BIND_SERVICE"
                               : "this process may not bind them: not root, no CAP_NET_BIND_SERVICE";
    return out + fmt::format("           {}\n", who);
  }

  std::string operator()(const listening_event& e) const {
    std::string detail = fmt::format("{} port", to_string(classify(e.local.port)));
    if (!e.service.empty()) detail += ", " + e.service;
    if (e.requested_port == 0) detail += ", chosen by the kernel (port 0)";
    if (e.privilege) detail += "; " + allowed_text(*e.privilege);
    if (e.tls) detail += "; HTTPS (TLS)";
    if (e.proto == "udp") detail = "UDP, " + detail;
    if (e.inherited && e.privilege != "parent") detail += "; bound by the parent process";
    if (e.inherited) detail += " (socket activation)";
    return join(fmt::format("{}  {}", paint("listening", good_style), ep(e.local, fixed_style, 17)),
                detail, 11);
  }

  std::string operator()(const privileges_dropped_event& e) const {
    const bool no_caps = e.cap_effective.find_first_not_of('0') == std::string::npos &&
                         e.cap_permitted.find_first_not_of('0') == std::string::npos;
    std::string out = fmt::format("{}: the ports are bound; now running as {} (uid {}, gid {})\n",
                                  paint("privileges dropped", good_style), e.user, e.uid, e.gid);
    out += wrap(fmt::format("supplementary groups: {}; capabilities: {} (CapEff {})",
                            e.groups.empty() ? "none" : e.groups, no_caps ? "none" : "some left", e.cap_effective),
                text_width, 4, 2);
    out += wrap(fmt::format("{}setuid(0) now fails ({}): it cannot become root again",
                            e.no_new_privs ? "no_new_privs set; " : "", e.regain_error),
                text_width, 4, 2);
    return out;
  }

  std::string operator()(const bind_failed_event& e) const {
    endpoint where = e.what.ep.value_or(endpoint{});
    std::string out = join(fmt::format("{}     {}", paint("FAILED", bad_style), ep(where, dim_style, 17)),
                           fmt::format("{}: {} ({})", to_string(e.what.where), e.what.system_message,
                                       e.what.error),
                           11);
    return out + once(e.what, e.why);
  }

  std::string operator()(const note_event& e) const {
    return wrap("note: " + e.message, text_width, 6);
  }
  std::string operator()(const requests_summarised_event& e) const { return (*this)(as_note(e)); }
  std::string operator()(const board_subscriber_dropped_event& e) const { return (*this)(as_note(e)); }
  std::string operator()(const remark_event& e) const { return (*this)(as_note(e)); }

  std::string operator()(const join_event& e) const {
    if (e.urls.empty()) return "";
    std::string out = fmt::format("{}: students open {} in a browser, or scan the code:\n", paint("join", good_style),
                                  e.urls.size() == 1 ? "this" : "one of these");
    for (const std::string& url : e.urls) out += "  " + paint(url, fixed_style) + "\n";
    if (e.qr) {
      for (const std::string& line : qr_terminal_lines(*e.qr, r.color_)) out += "  " + line + "\n";
    }
    if (!e.board.empty())
      out += fmt::format("  the board, for the projector: {}\n", paint(e.board, fixed_style));
    return out;
  }

  std::string operator()(const ready_event& e) const {
    if (e.listening == 0) {
      return fmt::format("{}: not one socket is listening ({} failed)\n", paint("stopped", bad_style),
                         e.failed);
    }
    std::string out = fmt::format("{}: {} socket{} listening on port{} {}", paint("ready", good_style),
                                  e.listening, e.listening == 1 ? "" : "s",
                                  e.ports.size() == 1 ? "" : "s", port_list(e.ports));
    if (e.failed) out += fmt::format("; {} failed (see above)", e.failed);
    out += "\n";
    // The hints name TCP ports. Without tcp_ports, the ports that are not UDP ones are taken.
    std::vector<std::uint16_t> tcp = e.tcp_ports;
    if (tcp.empty())
      std::copy_if(e.ports.begin(), e.ports.end(), std::back_inserter(tcp), [&](std::uint16_t p) {
        return std::find(e.udp_ports.begin(), e.udp_ports.end(), p) == e.udp_ports.end();
      });
    if (!tcp.empty()) {
      out += fmt::format("  try it: demo-client localhost {0}    or:  nc localhost {0}\n",
                         tcp.front());
      // A browser: the first plain port over http://, the first TLS port over https://.
      auto plain = std::find_if(tcp.begin(), tcp.end(), [&](std::uint16_t p) {
        return std::find(e.tls_ports.begin(), e.tls_ports.end(), p) == e.tls_ports.end();
      });
      std::string urls;
      if (plain != tcp.end()) urls = fmt::format("http://localhost:{}/", *plain);
      if (!e.tls_ports.empty())
        urls += fmt::format("{}https://localhost:{}/", urls.empty() ? "" : "  ", e.tls_ports.front());
      if (!urls.empty()) out += fmt::format("  in a browser: {}\n", urls);
      const std::uint16_t board_port = plain != tcp.end() ? *plain : e.tls_ports.front();
      if (!urls.empty())
        out += fmt::format("  the board:    {}://localhost:{}/board  (every connection, live)\n",
                           plain != tcp.end() ? "http" : "https", board_port);
    }
    if (!e.udp_ports.empty())
      out += fmt::format("  UDP: demo-client --udp localhost {0}    or:  nc -u localhost {0}\n", e.udp_ports.front());
    // QUIC answers on UDP ports numbered like the TLS ones: the same number, another port.
    if (!e.quic_ports.empty())
      out += fmt::format("  HTTP/3: demo-client --http3 -k localhost {0}  (QUIC on UDP port {0})\n", e.quic_ports.front());
    return out;
  }

  std::string operator()(const accepted_event& e) const {
    std::string head = fmt::format("connection #{:<3} ", e.id);
    std::string out = join(fmt::format("{}local {} (fixed)  ", head, ep(e.tuple.local, fixed_style)),
                           fmt::format("remote {} (ephemeral)", ep(e.tuple.remote, ephemeral_style)),
                           head.size());
    std::uint16_t port = e.tuple.remote.port;
    std::string where;
    if (!e.in_ephemeral_range) where = "this host's ephemeral range is unknown";
    else if (*e.in_ephemeral_range)
      where = fmt::format("in this host's ephemeral range {}", range_text(r.facts_.ephemeral));
    else
      where = fmt::format("outside this host's ephemeral range {}: chosen, or from another host",
                          range_text(r.facts_.ephemeral));
    std::string open = e.open > 1 ? fmt::format("; {} open now", e.open) : "";
    out += wrap(fmt::format("remote port {}: {} (IANA: {}){}", port, where, to_string(classify(port)), open),
                text_width, 4, 2);
    return out;
  }

  std::string operator()(const datagram_event& e) const {
    std::string head = fmt::format("datagram #{:<3} ", e.id);
    std::string out = join(fmt::format("{}local {} (fixed)  ", head, ep(e.tuple.local, fixed_style)),
                           fmt::format("remote {} (ephemeral)", ep(e.tuple.remote, ephemeral_style)), head.size());
    std::string where = !e.in_ephemeral_range ? ""
                        : *e.in_ephemeral_range ? "; remote port in this host's ephemeral range"
                                                : "; remote port outside this host's ephemeral range";
    out += wrap(fmt::format("UDP: no connection, one datagram of {} byte{}{}", e.bytes, e.bytes == 1 ? "" : "s",
                            where),
                text_width, 4, 2);
    return out;
  }

  std::string operator()(const answered_event& e) const {
    // demo-client's hello and silence are the normal cases: nothing to add to the screen, unless
    // the client's own view differs from the server's.
    if (e.json && e.both) {
      const translation t = compare_views(e.both->client, e.both->server);
      if (t.kind() == "none") return "";
      std::string out = wrap(fmt::format("#{} demo-client's own view: local {}  remote {}", e.id,
                                         to_string(e.both->client.local), to_string(e.both->client.remote)),
                             text_width, 4, 2);
      for (const auto& line : describe_translation(t)) out += wrap(line, text_width, 4, 4);
      return out;
    }
    if (e.json || e.received_bytes == 0) return "";
    return wrap(fmt::format("#{} sent {} byte{} first: \"{}\"; it got the text report", e.id,
                            e.received_bytes, e.received_bytes == 1 ? "" : "s",
                            printable(e.received, 60)),
                text_width, 4, 2);
  }

  std::string operator()(const proxied_event& e) const {
    if (e.claim.local)
      return wrap(fmt::format("#{} PROXY v{} LOCAL: the proxy's own connection (a health check); its peer {} "
                              "stands",
                              e.id, e.claim.version, to_string(e.tuple.remote)),
                  text_width, 4, 2);
    return wrap(fmt::format("#{} via a proxy (PROXY v{}): {}; the socket's peer is the proxy {}", e.id,
                            e.claim.version, proxy_says(e.claim), to_string(e.tuple.remote)),
                text_width, 4, 2);
  }

  std::string operator()(const proxy_refused_event& e) const {
    return wrap(fmt::format("#{} closed: this port takes a PROXY header first (--proxy-protocol), and {}", e.id,
                            e.reason),
                text_width, 4, 2);
  }

  std::string operator()(const http_request_event& e) const {
    std::string head = fmt::format("  #{} {} {} -> {}  {} <- {}", e.id, printable(e.method, 16),
                                   printable(e.target, 60), e.status, to_string(e.tuple.local),
                                   to_string(e.tuple.remote));
    std::string detail;
    if (e.version == http_version::http1)
      detail = e.request_number > 1 ? fmt::format("request {}: reused connection", e.request_number) : "new connection";
    else if (e.version == http_version::h2)
      detail = fmt::format("request {} on this connection, HTTP/2 stream {}{}", e.request_number, e.stream,
                           e.request_number > 1 ? ": the same client port" : "");
    else
      detail = fmt::format("request {} on this QUIC connection, HTTP/3 stream {}", e.request_number, e.stream);
    if (!e.tls_version.empty()) detail += ", " + e.tls_version;
    if (!e.note.empty()) detail += "; " + e.note;
    return join(head, "(" + detail + ")", 4);
  }

  std::string operator()(const http2_exchanged_event& e) const {
    std::string out =
        e.tls ? fmt::format("  HTTP/2 ({}, chosen in TLS's ALPN) on this one connection, from local port {}:\n",
                            e.tls->alpn, e.tuple.local.port)
              : fmt::format("  HTTP/2 (h2c) on this one connection, from local port {}:\n", e.tuple.local.port);
    bool one_port = !e.answers.empty();
    for (const http2_answer_seen& a : e.answers) {
      if (a.server_view)
        out += fmt::format("    stream {:<3} the server saw {} <- {}  (its request {} on #{})\n", a.stream,
                           to_string(a.server_view->local), to_string(a.server_view->remote), a.server_request,
                           a.server_id.value_or(0));
      else
        out += fmt::format("    stream {:<3} status {}, no view of the connection in the answer\n", a.stream, a.status);
      if (!a.server_view || a.server_view->remote.port != e.tuple.local.port) one_port = false;
    }
    if (one_port)
      out += wrap(fmt::format("{} request{}, {} stream{}, one client port ({}): HTTP/2 multiplexes them on one "
                              "connection, where HTTP/1.1 would take one at a time",
                              e.answers.size(), e.answers.size() == 1 ? "" : "s", e.answers.size(),
                              e.answers.size() == 1 ? "" : "s", e.tuple.local.port),
                  text_width, 4, 2);
    if (e.tls)
      out += wrap(fmt::format("TLS: {}, {}, certificate {}", e.tls->version, e.tls->cipher, e.tls->verification),
                  text_width, 4, 2);
    if (!e.problem.empty()) out += wrap("HTTP/2: " + e.problem, text_width, 4, 2);
    return out;
  }

  std::string operator()(const http2_failed_event& e) const {
    std::string out = join(fmt::format("{}  {}", paint("failed   ", bad_style), ep(e.tuple.remote, dim_style, 17)),
                           e.detail.empty() ? "HTTP/2 over TLS" : "HTTP/2 over TLS: " + e.detail, 11);
    return out + explanation_lines(e.why);
  }

  std::string operator()(const http2_closed_event& e) const {
    return wrap(fmt::format("#{} HTTP/2 connection closed ({}): {} request{} rode this one connection from client port "
                            "{}, up to {} at once, each on a stream of its own",
                            e.id, e.reason, e.requests, e.requests == 1 ? "" : "s", e.tuple.remote.port,
                            e.most_at_once),
                text_width, 4, 2);
  }

  std::string operator()(const quic_connected_event& e) const {
    std::string head = fmt::format("#{} QUIC  {} <- {}", e.id, to_string(e.tuple.local), to_string(e.tuple.remote));
    return join(head, "(UDP)", 4) +
           wrap(fmt::format("IDs: the client's {}, the server's {} (QUIC {}, {}): they name this connection, not "
                            "the four facts, so it survives the client's port changing",
                            shown_cid(e.client_cid), shown_cid(e.server_cid), e.version, e.alpn),
                text_width, 4, 4);
  }

  std::string operator()(const quic_migrated_event& e) const {
    std::string what = e.from.remote.address != e.to.remote.address
                           ? (e.from.remote.port != e.to.remote.port ? "address and port" : "address")
                           : "port";
    return wrap(fmt::format("#{} QUIC connection moved: the client's {} changed, {} -> {} (change {}), and connection "
                            "{} carried on; a TCP connection would have ended here",
                            e.id, what, to_string(e.from.remote), to_string(e.to.remote), e.migrations, e.server_cid),
                text_width, 4, 2);
  }

  std::string operator()(const quic_closed_event& e) const {
    return wrap(fmt::format("#{} QUIC connection closed ({}): {} request{}, {} port change{}", e.id, e.reason,
                            e.requests, e.requests == 1 ? "" : "s", e.migrations, e.migrations == 1 ? "" : "s"),
                text_width, 4, 2);
  }

  std::string operator()(const tls_failed_event& e) const {
    return wrap(fmt::format("#{} TLS handshake failed: {}. {}", e.id, e.reason, e.explanation), text_width, 4, 2);
  }

  std::string operator()(const tls_certificate_event& e) const {
    std::string out = e.source == "generated"
                          ? "certificate: generated at start-up, self-signed for localhost, 127.0.0.1 and ::1\n"
                          : wrap(fmt::format("certificate: {} ({})", e.source, e.subject), text_width, 13);
    // The first half of the fingerprint fits a line; JSON carries all of it.
    out += fmt::format("             SHA-256 {}{}\n", e.sha256.substr(0, 47), e.sha256.size() > 47 ? ":..." : "");
    if (!e.saved_to.empty())
      out += wrap(fmt::format("saved to {}: trust it with curl --cacert {}", e.saved_to, e.saved_to), text_width,
                  13, 13);
    return out;
  }

  std::string operator()(const accept_failed_event& e) const {
    return join(fmt::format("{}  {}", paint("accept failed", bad_style), ep(e.what.ep.value_or(endpoint{}), dim_style)),
                fmt::format("{} ({})", e.what.system_message, e.what.error), 15) +
           explanation_lines(e.why);
  }

  std::string operator()(const accept_resumed_event& e) const {
    return join(fmt::format("{}  {}:", paint("resumed", good_style), ep(e.local, fixed_style)),
                fmt::format("accepting again after {} failed attempt{}", e.failures, e.failures == 1 ? "" : "s"), 9);
  }

  std::string operator()(const limit_event& e) const {
    std::string why;
    switch (e.kind) {
      case limit_kind::line_too_long:
        why = fmt::format("{} bytes without a newline (--max-line {})", e.limit, e.limit);
        break;
      case limit_kind::request_timeout:
        why = fmt::format("its request was not complete {} after its first byte ({} byte{} came; "
                          "--request-timeout)",
                          format_duration(std::chrono::milliseconds(e.limit)), e.received,
                          e.received == 1 ? "" : "s");
        break;
      case limit_kind::write_timeout:
        why = fmt::format("it did not take its answer within {} (it is not reading; --write-timeout)",
                          format_duration(std::chrono::milliseconds(e.limit)));
        break;
      case limit_kind::keep_alive_timeout:
        why = fmt::format("idle {} after its last answer (--keep-alive-timeout)",
                          format_duration(std::chrono::milliseconds(e.limit)));
        break;
      case limit_kind::shutdown: why = "the server is stopping"; break;
    }
    return wrap(fmt::format("#{} {} {}: {}{}", e.id, paint("closed", warn_style), to_string(e.tuple.remote), why,
                            e.answered ? "; told it so" : ""),
                text_width, 4, 2);
  }

  std::string operator()(const busy_event& e) const {
    return wrap(fmt::format("#{} {} {}: {} of {} connections open (--max-connections); told it to try again",
                            e.id, paint("busy", warn_style), to_string(e.tuple.remote), e.open, e.max),
                text_width, 4, 2);
  }

  std::string operator()(const stopping_event& e) const {
    if (e.open == 0) return "";  // the summary follows at once: nothing to wait for
    return wrap(fmt::format("stopping ({}): no new connections; {} open get{} up to {} to finish their "
                            "answers (a second {} ends at once)",
                            e.signal, e.open, e.open == 1 ? "s" : "",
                            format_duration(std::chrono::milliseconds(e.grace_ms)), e.signal),
                text_width, 2);
  }

  std::string operator()(const gave_up_event& e) const {
    std::string tried;
    for (std::size_t i = 0; i < e.attempts.size(); ++i) {
      const failure& f = e.attempts[i];
      if (i) tried += ", ";
      std::string what = f.error == "ECONNREFUSED" ? "refused" : f.error == "ETIMEDOUT" ? "timed out" : f.error;
      tried += fmt::format("{} {}", to_string(f.ep.value_or(endpoint{})), what);
    }
    if (e.attempts.size() < 2) return "";  // the one failure above says it all
    return wrap(fmt::format("{}: no address of {} accepted port {}: {}", paint("gave up", bad_style), e.host,
                            e.port, tried),
                text_width, 4);
  }

  std::string operator()(const server_summary_event& e) const {
    std::string per_port;
    for (const auto& pc : e.per_port) {
      if (!per_port.empty()) per_port += ", ";
      if (pc.proto == "udp")
        per_port += fmt::format("UDP port {}: {} datagram{}", pc.port, pc.connections, pc.connections == 1 ? "" : "s");
      else if (pc.proto == "quic")
        per_port += fmt::format("UDP port {} (QUIC): {}", pc.port, pc.connections);
      else
        per_port += fmt::format("port {}: {}", pc.port, pc.connections);
    }
    std::string out = fmt::format("summary: {} connection{}{}{}\n", e.connections,
                                  e.connections == 1 ? "" : "s", per_port.empty() ? "" : "; ",
                                  per_port);
    if (e.lowest_client_port) {
      out += fmt::format("  client ports seen: {} distinct, lowest {}, highest {}\n",
                         e.distinct_client_ports, *e.lowest_client_port, *e.highest_client_port);
      out += "  the server's ports stayed fixed; the clients' ports came and went\n";
      if (e.peak_open > 1) out += fmt::format("  at most {} connections were open at once\n", e.peak_open);
    }
    if (e.busy || e.limited || e.cut)
      out += fmt::format("  turned away busy: {}; closed by a limit: {}; cut at shutdown: {}\n", e.busy, e.limited,
                         e.cut);
    if (e.log_dropped)
      out += fmt::format("  {} log line{} dropped: the output could not keep up\n", e.log_dropped,
                         e.log_dropped == 1 ? " was" : "s were");
    return out;
  }

  std::string operator()(const resolved_event& e) const {
    std::string addresses;
    for (std::size_t i = 0; i < e.addresses.size(); ++i) {
      if (i) addresses += ", ";
      addresses += e.addresses[i];
    }
    std::string service = describe_port(e.port);
    std::string port = service.empty() ? fmt::format("port {}", e.port)
                                       : fmt::format("port {} ({})", e.port, service);
    // QUIC is a connection, made over UDP datagrams; --udp sends bare datagrams.
    const char* verb = e.quic ? "connecting over QUIC to UDP" : e.udp ? "sending to UDP" : "connecting to";
    if (e.addresses.size() == 1 && e.addresses.front() == e.host)
      return fmt::format("{} {}, {}\n", e.quic ? "connecting over QUIC to" : e.udp ? "sending to" : "connecting to",
                         e.host, e.udp ? "UDP " + port : port);
    return wrap(fmt::format("resolved {} -> {}; {} {}{}", e.host, addresses, verb, port,
                            e.addresses.size() > 1 ? ", trying each address in turn" : ""),
                text_width, 2);
  }

  std::string operator()(const resolve_failed_event& e) const {
    return join(fmt::format("{}  {}:", paint("unresolved", bad_style), e.what.host),
                fmt::format("{} ({})", e.what.system_message, e.what.error), 12) +
           explanation_lines(e.why);
  }

  std::string operator()(const connect_failed_event& e) const {
    std::string label = e.what.error == "ECONNREFUSED" ? "refused  "
                        : e.what.error == "ETIMEDOUT" ? "timed out"
                                                       : "failed   ";
    std::string out =
        join(fmt::format("{}  {}", paint(label, bad_style), ep(e.what.ep.value_or(endpoint{}), dim_style, 17)),
             fmt::format("{}: {} ({})", to_string(e.what.where), e.what.system_message, e.what.error), 11);
    if (e.what.local && e.what.where == step::connect) {
      // The attempt had a port of its own, although no connection came of it.
      const std::string chosen =
          e.what.local_pinned
              ? "chosen with --source-port"
          : r.facts_.ephemeral && r.facts_.ephemeral->contains(e.what.local->port)
              ? fmt::format("chosen by this host's kernel from its ephemeral range {}; free again now",
                            range_text(r.facts_.ephemeral))
              : "chosen by this host's kernel; free again now";
      out += wrap(fmt::format("this attempt's own end was {} ({})", to_string(*e.what.local), chosen), text_width,
                  11, 11);
    }
    return out + once(e.what, e.why);
  }

  std::string operator()(const connected_event& e) const {
    const endpoint& local = e.tuple.local;
    const endpoint& remote = e.tuple.remote;
    std::string range = range_text(r.facts_.ephemeral);
    // Three columns: the endpoint, fixed or ephemeral, and who chose the port.
    std::string local_class = fmt::format("{} port", to_string(classify(local.port)));
    // A pinned port, or one outside the ephemeral range, was not the kernel's pick: it was chosen.
    const bool ephemeral = !e.pinned && e.in_ephemeral_range.value_or(true);
    std::string local_note = ephemeral   ? fmt::format("chosen by this host's kernel ({})", local_class)
                             : e.pinned ? fmt::format("chosen with --source-port ({})", local_class)
                                        : fmt::format("outside the ephemeral range ({})", local_class);
    std::string service = describe_port(remote.port);
    std::string remote_note = fmt::format("chosen by the server ({}{}{})", to_string(classify(remote.port)),
                                          service.empty() ? "" : ", ", service);
    std::string out = e.proto == "udp"
                          ? fmt::format("{} #{} (UDP: one datagram each way, no connection)\n",
                                        paint("answered", good_style), e.id)
                          : fmt::format("{} #{}\n", paint("connected", good_style), e.id);
    out += join("  local   " + ep(local, ephemeral_style, 17),
                (ephemeral ? paint("ephemeral", ephemeral_style) + "  " : paint("chosen", fixed_style) + "     ") +
                    local_note,
                10);
    out += join("  remote  " + ep(remote, fixed_style, 17), paint("fixed", fixed_style) + "      " + remote_note,
                10);
    if (e.server_view) {
      std::string id = e.server_id ? fmt::format(" (its {} #{})", e.proto == "udp" ? "datagram" : "connection",
                                                 *e.server_id)
                                   : "";
      out += join(fmt::format("  server's view{}:", id),
                  fmt::format("local {}  remote {}", ep(e.server_view->local, fixed_style),
                              ep(e.server_view->remote, ephemeral_style)),
                  4);
      if (e.server_told)
        out += wrap(fmt::format("the server was told by a PROXY v{} header: {}", e.server_told->version,
                                proxy_says(*e.server_told)),
                    text_width, 4, 2);
      if (is_mirror(e.tuple, *e.server_view))
        out += fmt::format("  mirror image: {}, the two ends see the same four facts\n",
                           paint("yes", good_style));
      else {
        out += wrap(fmt::format("mirror image: {}: the server saw another tuple, so something "
                                "between the two ends rewrote addresses or ports",
                                paint("NO", bad_style)),
                    text_width, 4, 2);
        for (const auto& line : describe_translation(compare_views(e.tuple, *e.server_view)))
          out += wrap(line, text_width, 6, 4);
      }
    } else {
      out += wrap(fmt::format("server's view: not reported ({})", e.server_view_problem), text_width,
                  4, 2);
    }
    if (!r.explained_client_port_range_ && classify(local.port) != port_class::dynamic &&
        e.in_ephemeral_range.value_or(false)) {
      r.explained_client_port_range_ = true;
      out += wrap(fmt::format("note: {} lies outside IANA's dynamic range 49152-65535. That is "
                              "normal on Linux: the kernel takes client ports from "
                              "net.ipv4.ip_local_port_range ({}), not from IANA's range.",
                              local.port, range),
                  text_width, 8, 2);
    }
    return out;
  }

  std::string operator()(const client_summary_event& e) const {
    std::set<std::uint16_t> server_ports;
    for (const auto& s : e.servers) server_ports.insert(s.port);
    std::string out = e.udp ? fmt::format("summary: {} of {} UDP exchange{} answered\n", e.connected, e.attempted,
                                          e.attempted == 1 ? "" : "s")
                            : fmt::format("summary: {} of {} connection{} made\n", e.connected, e.attempted,
                                          e.attempted == 1 ? "" : "s");
    if (e.connected == 0) return out;
    if (server_ports.size() == 1) {
      out += fmt::format("  server port: {} every time ({})\n",
                         paint(std::to_string(*server_ports.begin()), fixed_style), "fixed");
    } else {
      std::vector<std::uint16_t> v(server_ports.begin(), server_ports.end());
      out += fmt::format("  server ports: {}\n", port_list(v));
    }
    std::string ports;
    if (e.client_ports.size() <= 8) {
      ports = port_list(e.client_ports);
    } else {
      auto [lo, hi] = std::minmax_element(e.client_ports.begin(), e.client_ports.end());
      ports = fmt::format("{}..{}", *lo, *hi);
    }
    // At most 8 ports or a range: the line stays well under the width without wrapping.
    out += fmt::format("  client ports: {} - {} distinct of {}{}\n", paint(ports, ephemeral_style),
                       e.distinct_client_ports, e.connected,
                       e.pinned                                ? ", pinned with --source-port"
                       : e.distinct_client_ports == e.connected ? ", a new one every time"
                                                                : "");
    out += fmt::format("  {} of {} inside this host's ephemeral range {}; {} of {} mirror images\n",
                       e.in_ephemeral_range, e.connected, range_text(r.facts_.ephemeral), e.mirrored,
                       e.connected);
    if (e.client_ports.size() <= 8 || e.pinned) return out;
    // Many connections: where in the range the kernel took their ports from.
    port_distribution d = distribution(e.client_ports, e.ephemeral);
    if (e.parallel > 1) out += fmt::format("  made {} at a time (--parallel {})\n", e.parallel, e.parallel);
    out += fmt::format("  lowest {}, highest {}; {} in IANA's dynamic range 49152-65535\n", d.lowest, d.highest,
                       d.in_iana_dynamic);
    out += fmt::format("  parity: {} even, {} odd (Linux gives connect() even ports first, bind() odd)\n",
                       d.even, d.odd);
    out += fmt::format("  client ports over {} {}-{}:\n",
                       e.ephemeral ? "this host's ephemeral range" : "the span seen", d.histogram_range.low,
                       d.histogram_range.high);
    const std::uint64_t most = *std::max_element(d.buckets.begin(), d.buckets.end());
    const std::size_t bucket_size = (static_cast<std::size_t>(d.histogram_range.high) - d.histogram_range.low + 16) / 16;
    for (std::size_t i = 0; i < d.buckets.size(); ++i) {
      std::size_t low = d.histogram_range.low + i * bucket_size;
      std::size_t high = std::min<std::size_t>(low + bucket_size - 1, d.histogram_range.high);
      std::size_t bar = most == 0 ? 0 : static_cast<std::size_t>((d.buckets[i] * 50 + most - 1) / most);
      out += fmt::format("    {:>5}-{:<5} {:<50} {}\n", low, high, paint(std::string(bar, '#'), ephemeral_style),
                         d.buckets[i]);
    }
    return out;
  }

  std::string operator()(const verified_event& e) const {
    if (e.mismatches.empty())
      return wrap(fmt::format("{}: {} printed {} the one{} the kernel holds for {} "
                              "(/proc/net/tcp and tcp6, matched by socket inode)",
                              paint("verified", good_style),
                              e.checked == 1 ? std::string("the tuple") : fmt::format("all {} tuples", e.checked),
                              e.checked == 1 ? "is" : "are", e.checked == 1 ? "" : "s",
                              e.checked == 1 ? "this socket" : "these sockets"),
                  text_width, 4);
    std::string out = fmt::format("{}: {} of {} tuples printed differ from the kernel's\n",
                                  paint("MISMATCH", bad_style), e.mismatches.size(), e.checked);
    for (std::size_t i = 0; i < e.mismatches.size() && i < 5; ++i) {
      const verify_mismatch& m = e.mismatches[i];
      out += fmt::format("  #{} printed {} -> {}; kernel {}\n", m.id, to_string(m.printed.local),
                         to_string(m.printed.remote),
                         m.kernel ? to_string(m.kernel->local) + " -> " + to_string(m.kernel->remote)
                                  : std::string("no such socket"));
    }
    return out;
  }

  // demo-client --http3: the UDP tuple in the columns of a TCP connection's, then the IDs.
  std::string operator()(const http3_connected_event& e) const {
    const bool ephemeral = !e.pinned && e.in_ephemeral_range.value_or(true);
    const std::string local_class = fmt::format("{} port", to_string(classify(e.tuple.local.port)));
    const std::string local_note = ephemeral   ? fmt::format("chosen by this host's kernel ({})", local_class)
                                   : e.pinned ? fmt::format("chosen with --source-port ({})", local_class)
                                              : fmt::format("outside the ephemeral range ({})", local_class);
    const std::string service = describe_port(e.tuple.remote.port);
    const std::string checked = e.verified_by == "none"     ? "not verified (-k)"
                                : e.verified_by == "cacert" ? "verified with --cacert " + e.cacert
                                                            : "verified by this host's trust store";
    std::string out = fmt::format("{} over QUIC (HTTP/3 on UDP, {}, {})\n", paint("connected", good_style),
                                  e.tls_version, e.alpn);
    out += join("  local   " + ep(e.tuple.local, ephemeral_style, 17),
                (ephemeral ? paint("ephemeral", ephemeral_style) + "  " : paint("chosen", fixed_style) + "     ") +
                    local_note,
                10);
    out += join("  remote  " + ep(e.tuple.remote, fixed_style, 17),
                paint("fixed", fixed_style) + "      " +
                    fmt::format("chosen by the server ({}{}{})", to_string(classify(e.tuple.remote.port)),
                                service.empty() ? "" : ", ", service),
                10);
    out += wrap(fmt::format("IDs: this end's {}, the server's {} (QUIC {}): they name the connection, not the "
                            "four facts",
                            e.client_cid, e.server_cid, e.version),
                text_width, 4, 2);
    out += wrap(fmt::format("certificate {}: {}", e.certificate, checked), text_width, 4, 2);
    return out;
  }

  std::string operator()(const http3_response_event& e) const {
    std::string out = fmt::format("GET /json -> {} on stream {} (request {} on this QUIC connection, from {})\n",
                                  e.status, e.stream, e.request, ep(e.tuple.local, ephemeral_style));
    if (!e.server)
      return out + wrap(fmt::format("server's view: not reported ({})", e.server_view_problem), text_width, 4, 2);
    out += join(fmt::format("  server's view (its connection #{}):", e.server->id),
                fmt::format("local {}  remote {}", ep(e.server->tuple.local, fixed_style),
                            ep(e.server->tuple.remote, ephemeral_style)),
                4);
    if (is_mirror(e.tuple, e.server->tuple)) {
      out += fmt::format("  mirror image: {}, the two ends see the same four facts\n", paint("yes", good_style));
    } else {
      out += wrap(fmt::format("mirror image: {}: the server saw another tuple, so something between the two ends "
                              "rewrote addresses or ports",
                              paint("NO", bad_style)),
                  text_width, 4, 2);
      for (const auto& line : describe_translation(compare_views(e.tuple, e.server->tuple)))
        out += wrap(line, text_width, 6, 4);
    }
    // Both ends name the connection by the same two IDs, and the request by the same stream.
    if (e.quic) {
      const std::string stream = e.server_stream ? std::to_string(*e.server_stream) : std::string("none");
      out += e.ids_match.value_or(false) && e.server_stream == e.stream
                 ? fmt::format("  IDs and stream: {}, the server names the same two connection IDs and stream {}\n",
                               paint("yes", good_style), stream)
                 : wrap(fmt::format("IDs and stream: {}: the server names IDs {} and {}, stream {}",
                                    paint("NO", bad_style), e.quic->client_cid, e.quic->server_cid, stream),
                        text_width, 4, 2);
    }
    if (e.quic && e.quic->migrations > 0)
      out += wrap(fmt::format("the server saw the move: {} change{} of this end's address or port, the connection "
                              "began from {}",
                              e.quic->migrations, e.quic->migrations == 1 ? "" : "s",
                              e.quic->first_remote ? to_string(*e.quic->first_remote) : std::string("an earlier end")),
                  text_width, 4, 2);
    return out;
  }

  std::string operator()(const http3_rebound_event& e) const {
    const std::string chosen = e.in_ephemeral_range.value_or(true) ? "a new ephemeral port, chosen by this host's kernel"
                                                                   : "a new port, outside the ephemeral range";
    std::string out = wrap(fmt::format("{}: this end left {} for a new UDP socket, {} ({}); the QUIC connection goes "
                                       "on, to the same {}",
                                       paint("moved", warn_style), ep(e.from.local, ephemeral_style),
                                       ep(e.to.local, ephemeral_style), chosen, ep(e.to.remote, fixed_style)),
                           text_width, 4);
    out += e.migration
               ? wrap(fmt::format("a migration: QUIC was told, checks the new path and sends to a new ID of the "
                                  "server's, {} (was {}), so the two paths cannot be linked on the wire",
                                  e.server_cid_after, e.server_cid_before),
                      text_width, 4, 2)
               : wrap("a rebinding, as a NAT does: QUIC was not told; the server finds the new port in the next "
                      "packet and checks it",
                      text_width, 4, 2);
    return out;
  }

  std::string operator()(const http3_failed_event& e) const {
    std::string out = join(fmt::format("{}  {}", paint("failed   ", bad_style), ep(e.tuple.remote, dim_style, 17)),
                           e.detail.empty() ? "HTTP/3" : "HTTP/3: " + e.detail, 11);
    return out + explanation_lines(e.why);
  }
};

port_distribution distribution(const std::vector<std::uint16_t>& ports, const std::optional<port_range>& ephemeral) {
  port_distribution d;
  if (ports.empty()) return d;
  auto [lo, hi] = std::minmax_element(ports.begin(), ports.end());
  d.lowest = *lo;
  d.highest = *hi;
  d.histogram_range = ephemeral.value_or(port_range{d.lowest, d.highest});
  // At most 16 slices of equal size; fewer when the range is small, so none is empty by design.
  const std::size_t span = static_cast<std::size_t>(d.histogram_range.high) - d.histogram_range.low + 1;
  const std::size_t bucket_size = (span + 15) / 16;
  d.buckets.assign((span + bucket_size - 1) / bucket_size, 0);
  for (std::uint16_t p : ports) {
    if (ephemeral && ephemeral->contains(p)) ++d.in_ephemeral_range;
    if (iana_dynamic_range.contains(p)) ++d.in_iana_dynamic;
    (p % 2 == 0 ? d.even : d.odd) += 1;
    if (d.histogram_range.contains(p)) ++d.buckets[(p - d.histogram_range.low) / bucket_size];
  }
  return d;
}

text_renderer::text_renderer(host_facts facts, bool color) : facts_(std::move(facts)), color_(color) {}

std::string text_renderer::render(const event& e) { return std::visit(impl{*this}, e); }

std::string render_raw_client_report(const server_view& view, const host_facts& facts) {
  const endpoint& server = view.tuple.local;
  const endpoint& client = view.tuple.remote;
  std::string range = facts.ephemeral ? fmt::format("{}-{}", facts.ephemeral->low, facts.ephemeral->high)
                                      : std::string("its ephemeral range");
  std::string out = view.proto == "udp"
                        ? fmt::format("portdemo: your UDP datagram #{}, as this server sees it\n", view.id)
                        : fmt::format("portdemo: your connection #{}, as this server sees it\n", view.id);
  out += join(fmt::format("  server (local here):  {:<22}", to_string(server)),
              "fixed: the port this server listens on", 24);
  if (view.proxy) {
    // The socket's peer is the proxy: the client is only what the header claims.
    out += join(fmt::format("  proxy (remote here):  {:<22}", to_string(client)),
                fmt::format("the socket's peer: a proxy, which sent a PROXY v{} header", view.proxy->version), 24);
    out += wrap(proxy_says(*view.proxy) + ": its claim, which this server cannot check", text_width, 2, 2);
    return out;
  }
  out += join(fmt::format("  you (remote here):    {:<22}", to_string(client)), "ephemeral: chosen by your kernel",
              24);
  out += wrap(fmt::format("{} and your port changes, the server's does not. (This "
                          "host takes client ports from {}.)",
                          view.proto == "udp" ? "Send again from a new socket" : "Connect again", range),
              text_width, 2, 2);
  return out;
}

std::string_view to_string(limit_kind kind) noexcept {
  switch (kind) {
    case limit_kind::line_too_long: return "line_too_long";
    case limit_kind::request_timeout: return "request_timeout";
    case limit_kind::write_timeout: return "write_timeout";
    case limit_kind::keep_alive_timeout: return "keep_alive_timeout";
    case limit_kind::shutdown: return "shutdown";
  }
  return "unknown";
}

std::string render_limit_answer(limit_kind kind, std::uint64_t limit) {
  switch (kind) {
    case limit_kind::line_too_long:
      return fmt::format("portdemo: line too long: no newline in the first {} bytes; closing.\n", limit);
    case limit_kind::request_timeout:
      return fmt::format("portdemo: no end of line within {} of your first byte; closing.\n",
                         format_duration(std::chrono::milliseconds(limit)));
    case limit_kind::shutdown: return "portdemo: the server is stopping; closing.\n";
    case limit_kind::write_timeout:
    case limit_kind::keep_alive_timeout: break;  // nothing is said: the client is not listening
  }
  return "";
}

std::string render_busy_answer(std::uint64_t open, std::uint64_t max) {
  return fmt::format("portdemo: busy {}/{}: this server holds as many connections as it allows; "
                     "try again in a moment.\n",
                     open, max);
}

}  // namespace portdemo
