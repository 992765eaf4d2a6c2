#include "portdemo/board_page.hpp"

// Placeholder until the page lands (work in progress, not wired in).
namespace portdemo {

std::string_view board_page() { return "<!doctype html><title>portdemo board</title>\n"; }

}  // namespace portdemo
