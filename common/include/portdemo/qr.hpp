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

/// Encodes `text` (8-bit mode, error correction level M, the smallest version that holds it);
/// nullopt when it does not fit a QR code (more than 2331 bytes), is empty, or libqrencode fails.
std::optional<qr_code> make_qr(std::string_view text);

/// The code drawn for a terminal with half-block characters (two module rows per line), inside
/// a light quiet zone of `quiet` modules (negative counts as 0). Light modules are drawn ("█",
/// "▀", "▄"), dark ones are spaces, which reads right on a terminal whose background is dark;
/// with `color` every line is wrapped in ANSI bright white on black ("\x1b[97;40m" ... "\x1b[0m")
/// so that it reads right on any terminal. Lines are `size + 2 * quiet` characters wide, and
/// there are `(size + 2 * quiet + 1) / 2` of them: the odd module row count leaves the last
/// line's lower half without a row, and it is drawn light, one more row of quiet zone.
std::vector<std::string> qr_terminal_lines(const qr_code& code, bool color, int quiet = 2);

}  // namespace portdemo
