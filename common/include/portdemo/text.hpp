#pragma once
// Small text helpers the pure code shares.

#include <optional>
#include <string>
#include <string_view>

namespace portdemo {

/// ASCII case-insensitive equality (header names, service names).
bool iequals(std::string_view a, std::string_view b) noexcept;

/// `s` without leading and trailing spaces and tabs.
std::string_view trim(std::string_view s) noexcept;

/// The whole content of a file, or nullopt if it cannot be opened.
std::optional<std::string> read_text_file(const std::string& path);

/// Whether `s` is an IPv4 or IPv6 address literal (no brackets, no scope id).
bool is_ip_address(std::string_view s);

}  // namespace portdemo
