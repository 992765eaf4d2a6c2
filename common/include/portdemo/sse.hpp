#pragma once
// Server-Sent Events framing (the text/event-stream format), in one place: every event the
// board's stream sends is written with these, appended in place to the bytes being built.

#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace portdemo::sse {

/// Starts an event: `event: NAME` and the start of its one `data:` line. The data that follows
/// must be one line (JSON without newlines).
inline void begin(std::string& out, std::string_view name) {
  out += "event: ";
  out += name;
  out += "\ndata: ";
}

/// Ends the event begun last (its data line and the blank line after it).
inline void end(std::string& out) { out += "\n\n"; }

/// A whole event with one line of data.
inline void event(std::string& out, std::string_view name, std::string_view data) {
  begin(out, name);
  out += data;
  end(out);
}

/// How long the browser's EventSource waits before it reconnects.
inline void retry(std::string& out, std::uint64_t ms) { fmt::format_to(std::back_inserter(out), "retry: {}\n\n", ms); }

/// A comment line, which EventSource ignores: a heartbeat that keeps the stream alive.
inline void comment(std::string& out, std::string_view text) {
  out += ": ";
  out += text;
  out += "\n\n";
}

}  // namespace portdemo::sse
