#pragma once
// The reporter: the only code that prints. Text or JSON is chosen here, once.

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

/// Prints events to a stream, one line (JSON) or a few lines (text) each, flushed at once.
class reporter {
 public:
  reporter(output_format format, host_facts facts, bool color, std::FILE* out = stdout);

  /// Renders and prints the event. A closed or broken output is ignored, never fatal.
  void emit(const event& e);

  /// The format chosen at construction.
  output_format format() const noexcept { return format_; }

  /// The facts given at construction.
  const host_facts& facts() const noexcept { return facts_; }

 private:
  output_format format_;
  host_facts facts_;
  text_renderer text_;
  std::FILE* out_;
};

}  // namespace portdemo
