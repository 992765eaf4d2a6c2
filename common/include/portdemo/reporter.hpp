#pragma once
// The reporter: the only code that prints. Text or JSON is chosen here, once.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string_view>

#include "portdemo/events.hpp"
#include "portdemo/render.hpp"

namespace portdemo {

/// How the programs print.
enum class output_format { text, json };

/// --color auto|always|never.
enum class color_mode { auto_detect, always, never };

/// Decides colour: always/never as asked; auto means a terminal and no NO_COLOR variable.
bool use_color(color_mode mode, std::FILE* out);

/// Prints events to a stream, one line (JSON) or a few lines (text) each.
///
/// Synchronous by default: each event is written and flushed before emit() returns (the
/// client). Asynchronous for the server: emit() renders the event and appends it to a bounded
/// buffer that a writer thread empties in batches, so a slow terminal or pipe never blocks the
/// accept path; when the buffer is full, lines are dropped and counted, and a note says how
/// many once there is room again.
class reporter {
 public:
  /// The most bytes waiting to be written before lines are dropped (asynchronous mode).
  static constexpr std::size_t default_backlog = 4u << 20;

  reporter(output_format format, host_facts facts, bool color, std::FILE* out = stdout);
  /// The asynchronous reporter: `backlog` bytes may wait for the writer thread.
  reporter(output_format format, host_facts facts, bool color, std::FILE* out, std::size_t backlog);
  ~reporter();
  reporter(const reporter&) = delete;
  reporter& operator=(const reporter&) = delete;

  /// Renders and prints the event. A closed or broken output is ignored, never fatal.
  void emit(const event& e);

  /// Returns once everything emitted so far has been written (or found unwritable).
  void flush();

  /// --mask-addresses: every event's remote address is printed partly hidden (mask_address).
  void mask_remote_addresses(bool on) noexcept { mask_ = on; }

  /// Lines dropped so far because the output could not keep up (asynchronous mode).
  std::uint64_t dropped() const;

  /// The format chosen at construction.
  output_format format() const noexcept { return format_; }

  /// The facts given at construction.
  const host_facts& facts() const noexcept { return facts_; }

 private:
  /// Renders and prints the event as it is.
  void print(const event& e);

  output_format format_;
  host_facts facts_;
  text_renderer text_;
  std::FILE* out_;
  bool mask_ = false;
  struct writer;
  std::unique_ptr<writer> writer_;  ///< null: synchronous
};

}  // namespace portdemo
