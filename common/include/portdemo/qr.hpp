#pragma once
// QR codes for the join URL: libqrencode makes the matrix; drawing it (terminal block
// characters here, SVG on the board page from the same rows) is ours.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portdemo {

/// A QR code's modules, without the quiet zone.
struct qr_code {
  int size = 0;                   ///< modules per side (21 for version 1, 25 for version 2, ...)
  std::vector<std::string> rows;  ///< `size` rows of `size` characters: '#' dark, ' ' light
};

/// Encodes `text` (8-bit mode, error correction level M); nullopt when it does not fit a QR
/// code or libqrencode fails.
std::optional<qr_code> make_qr(std::string_view text);

/// The code drawn for a terminal with half-block characters (two module rows per line), inside
/// a light quiet zone of `quiet` modules. Light modules are drawn ("█", "▀", "▄"), dark ones
/// are spaces, which reads right on a terminal whose background is dark; with `color` every
/// line is wrapped in ANSI bright white on black so that it reads right on any terminal.
std::vector<std::string> qr_terminal_lines(const qr_code& code, bool color, int quiet = 2);

}  // namespace portdemo
