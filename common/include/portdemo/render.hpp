#pragma once
// The one place where events become text for people or JSON lines for programs.

#include <set>
#include <string>

#include "portdemo/events.hpp"
#include "portdemo/translation.hpp"
#include "portdemo/host_facts.hpp"
#include "portdemo/protocol.hpp"

namespace portdemo {

/// Renders an event as one JSON object on one line, ending in '\n'.
std::string render_json(const event& e);

/// Renders events as text for a projector: lines under 100 columns, no timestamps or PIDs,
/// colour only when asked. Remembers what it has said, so a note is given once per run.
class text_renderer {
 public:
  /// `facts` give the context of every line (this host's ephemeral range, the cut-off).
  text_renderer(host_facts facts, bool color);

  /// The event's lines, each ending in '\n'; empty for events text leaves out.
  std::string render(const event& e);

 private:
  struct impl;
  host_facts facts_;
  bool color_;
  bool explained_client_port_range_ = false;
  std::set<std::string> explained_failures_;  // "step/error/port" already explained in full
};

/// A typed note in the words the log prints it (code and message), text and JSON alike.
note_event as_note(const requests_summarised_event& e);
note_event as_note(const board_subscriber_dropped_event& e);
note_event as_note(const remark_event& e);

/// What a raw client's first line (or datagram) gets: demo-client's hello the JSON view,
/// anything else (silence included) the text report. The one answer of TCP's quick path, its
/// coroutine and UDP.
/// `message`: the first line and, after a hello, demo-client's view; `logged`: the bytes the
/// answered event keeps (the line, or a whole datagram); `received`: how many came.
struct line_answer {
  std::string bytes;   ///< what to send
  bool hello = false;  ///< the line was demo-client's hello (with or without hold)
  bool hold = false;   ///< demo-client --hold: keep the connection open after the answer
  answered_event event;
};
line_answer answer_line(const raw_message& message, const server_view& view, const host_facts& facts,
                        std::size_t received, std::string_view logged);

/// "the proxy says the client is A:p (to B:q)", or that it does not say.
std::string proxy_says(const proxy_claim& claim);

/// What differs between the two views, a sentence each (empty when nothing does).
std::vector<std::string> describe_translation(const translation& t);

/// The report a raw client (nc, telnet) receives: its connection seen from the server.
std::string render_raw_client_report(const server_view& view, const host_facts& facts);

/// A limit's name as JSON writes it: "line_too_long", "request_timeout", ...
std::string_view to_string(limit_kind kind) noexcept;

/// The line a raw client gets when a limit closes its connection; empty when nothing is said.
std::string render_limit_answer(limit_kind kind, std::uint64_t limit);

/// The one line a client over --max-connections gets: "portdemo: busy 256/256: ...".
std::string render_busy_answer(std::uint64_t open, std::uint64_t max);

/// Bytes from the network made safe to print: printable ASCII as is, everything else as \xNN,
/// cut at `max` characters with "..." appended.
std::string printable(std::string_view bytes, std::size_t max);

/// Wraps `text` at `width` columns; continuation lines start with `indent` spaces.
std::string wrap(std::string_view text, std::size_t width, std::size_t indent,
                 std::size_t first_indent = 0);

}  // namespace portdemo
