#pragma once
// The classroom board (GET /board): one self-contained HTML page, its style and its script
// inline, that follows GET /events (Server-Sent Events) for the whole lecture.

#include <string_view>

namespace portdemo {

/// The page's bytes (UTF-8 HTML).
std::string_view board_page();

}  // namespace portdemo
