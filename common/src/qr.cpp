#include "portdemo/qr.hpp"

#include <qrencode.h>

#include <cstddef>
#include <memory>

namespace portdemo {

namespace {

// libqrencode hands back a malloc'd struct that only QRcode_free may release.
struct qrcode_deleter {
  void operator()(QRcode* code) const { QRcode_free(code); }
};

// Whether the module at (row, column) is dark. Anything outside the matrix is light: that is
// the quiet zone, and also the padding row under an odd number of rows (see below). Rows
// shorter than `size` (a qr_code built by hand) read as light beyond their end.
bool dark(const qr_code& code, int row, int column) {
  if (row < 0 || column < 0 || row >= code.size || column >= code.size) return false;
  const auto r = static_cast<std::size_t>(row);
  if (r >= code.rows.size()) return false;
  const std::string& line = code.rows[r];
  const auto c = static_cast<std::size_t>(column);
  return c < line.size() && line[c] == '#';
}

}  // namespace

std::optional<qr_code> make_qr(std::string_view text) {
  // encodeData rather than encodeString8bit: the text is a string_view (no terminating NUL to
  // rely on) and may hold any byte. Version 0 lets libqrencode pick the smallest version that
  // holds the text; it returns null (errno ERANGE) when even version 40 is too small, and for
  // an empty text (EINVAL).
  std::unique_ptr<QRcode, qrcode_deleter> encoded(
      QRcode_encodeData(static_cast<int>(text.size()), reinterpret_cast<const unsigned char*>(text.data()), 0,
                        QR_ECLEVEL_M));
  if (!encoded || encoded->width <= 0 || !encoded->data) return std::nullopt;
  qr_code code;
  code.size = encoded->width;
  const auto size = static_cast<std::size_t>(encoded->width);
  code.rows.reserve(size);
  for (std::size_t row = 0; row < size; ++row) {
    std::string line(size, ' ');
    // Each module is a byte whose other bits say what the module is part of (finder pattern,
    // timing, data...); only bit 0, dark or light, matters for drawing.
    for (std::size_t column = 0; column < size; ++column)
      if (encoded->data[row * size + column] & 1u) line[column] = '#';
    code.rows.push_back(std::move(line));
  }
  return code;
}

std::vector<std::string> qr_terminal_lines(const qr_code& code, bool color, int quiet) {
  if (quiet < 0) quiet = 0;
  // A line of text is one module wide and two modules tall: its upper half is one module row,
  // its lower half the next. A QR code has an odd number of rows (21 + 4k) and the quiet zone
  // adds an even number, so the last line has no row of its own for its lower half; that half
  // is drawn light, as one more row of quiet zone. The code therefore has `quiet` light rows
  // above it and `quiet` + 1 light half-rows below it (with quiet = 0: none above, one below);
  // a wider zone only helps a scanner, and the alternative (leaving the half dark) would put a
  // dark stripe against the code's bottom edge, where it is read as part of the code.
  const int first = -quiet;
  const int rows = code.size + 2 * quiet;
  const int columns = code.size + 2 * quiet;
  std::vector<std::string> lines;
  lines.reserve(static_cast<std::size_t>((rows + 1) / 2));
  for (int top = 0; top < rows; top += 2) {
    std::string line;
    if (color) line += "\x1b[97;40m";  // bright white on black, whatever the terminal's own colours
    for (int column = 0; column < columns; ++column) {
      // Light modules are drawn and dark ones left blank: on a dark terminal the blank is the
      // dark background, so the code reads right side up (dark modules on light).
      const bool upper_light = !dark(code, first + top, first + column);
      const bool lower_light = !dark(code, first + top + 1, first + column);
      if (upper_light && lower_light)
        line += "\u2588";  // █
      else if (upper_light)
        line += "\u2580";  // ▀
      else if (lower_light)
        line += "\u2584";  // ▄
      else
        line += ' ';
    }
    if (color) line += "\x1b[0m";
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace portdemo
