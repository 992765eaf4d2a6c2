#include "portdemo/qr.hpp"

// Placeholder until the libqrencode implementation lands (work in progress, not wired in).
namespace portdemo {

std::optional<qr_code> make_qr(std::string_view) { return std::nullopt; }

std::vector<std::string> qr_terminal_lines(const qr_code&, bool, int) { return {}; }

}  // namespace portdemo
