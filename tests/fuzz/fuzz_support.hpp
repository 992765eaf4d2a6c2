#pragma once
// What the fuzz targets share: a check that stops the run with a reason, and the cutting of an
// input into the pieces a socket might deliver it in.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace portdemo::fuzz {

/// Stops the run when `ok` is false, naming the broken promise; libFuzzer then saves the input.
inline void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz check failed: %s\n", what);
  std::abort();
}

/// The input as text.
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// An input whose first byte chooses how the rest (the payload) is cut into pieces, so the
/// fuzzer explores the cuts as it explores the bytes. The first byte's low three bits give the
/// longest piece, 2^0 to 2^7 bytes (0: one byte at a time); its high five bits seed the lengths,
/// which include empty pieces. An empty input has an empty payload.
class cut_input {
 public:
  cut_input(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return;
    control_ = data[0];
    payload_ = as_text(data + 1, size - 1);
  }

  /// The bytes after the first.
  std::string_view payload() const noexcept { return payload_; }
  /// The first byte, for the target's own choices (limits, flags).
  std::uint8_t control() const noexcept { return control_; }

  /// The payload in pieces whose concatenation is the payload.
  std::vector<std::string_view> pieces() const {
    std::vector<std::string_view> out;
    const std::size_t longest = std::size_t{1} << (std::uint32_t{control_} & 7U);
    std::uint32_t state = 0x9e3779b9U ^ (std::uint32_t{control_} >> 3U);  // xorshift32, never zero
    std::string_view rest = payload_;
    while (!rest.empty()) {
      state ^= state << 13U;
      state ^= state >> 17U;
      state ^= state << 5U;
      std::size_t n = longest == 1 ? 1 : state % (longest + 1);  // 0 to longest
      if (n > rest.size()) n = rest.size();
      out.push_back(rest.substr(0, n));
      rest.remove_prefix(n);
    }
    return out;
  }

 private:
  std::uint8_t control_ = 0;
  std::string_view payload_;
};

}  // namespace portdemo::fuzz
