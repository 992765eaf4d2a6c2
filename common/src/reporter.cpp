#include "portdemo/reporter.hpp"

#include <unistd.h>

#include <cstdlib>

namespace portdemo {

bool use_color(color_mode mode, std::FILE* out) {
  switch (mode) {
    case color_mode::always: return true;
    case color_mode::never: return false;
    case color_mode::auto_detect: {
      // https://no-color.org: any non-empty NO_COLOR turns colour off.
      const char* no_color = std::getenv("NO_COLOR");
      if (no_color && *no_color) return false;
      const char* term = std::getenv("TERM");
      if (term && std::string_view(term) == "dumb") return false;
      return ::isatty(::fileno(out)) == 1;
    }
  }
  return false;
}

reporter::reporter(output_format format, host_facts facts, bool color, std::FILE* out)
    : format_(format), facts_(facts), text_(std::move(facts), color), out_(out) {}

void reporter::emit(const event& e) {
  std::string line = format_ == output_format::json ? render_json(e) : text_.render(e);
  if (line.empty()) return;
  // A closed pipe or terminal must not end the program: SIGPIPE is ignored by both mains,
  // and a short or failed write is dropped.
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
  std::clearerr(out_);
}

}  // namespace portdemo
