#pragma once
// Command-line pieces both programs share. Includes CLI11, so only the two main.cpp files may
// include this header (a CLI11 translation unit costs about 11 s to compile here).

#include <arpa/inet.h>

#include <string>

#include <CLI/CLI.hpp>

#include "portdemo/failure.hpp"
#include "portdemo/limits.hpp"
#include "portdemo/ports.hpp"
#include "portdemo/render.hpp"
#include "portdemo/text.hpp"
#include "portdemo/reporter.hpp"
#include "portdemo/version.hpp"

namespace portdemo::cli {

/// Checks a port spec with the same parser the program uses, so --help, errors and tests agree.
inline CLI::Validator port_spec_check(bool allow_zero) {
  return CLI::Validator(
      [allow_zero](std::string& value) -> std::string {
        auto result = parse_port_spec(value, allow_zero);
        return result.error ? result.error->message : std::string{};
      },
      "PORTS");
}

/// Checks one port: a number or a service name.
inline CLI::Validator port_check() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        auto result = parse_single_port(value, false);
        return result.error ? result.error->message : std::string{};
      },
      "PORT");
}

/// Checks an IPv4 or IPv6 address literal (no names: a server binds addresses, not names).
inline CLI::Validator address_check() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (is_ip_address(value)) return {};
        return "\"" + value +
               "\" is not an IP address: give one such as 127.0.0.1, ::1, 0.0.0.0 (all IPv4) or "
               ":: (all IPv6)";
      },
      "ADDRESS");
}

/// Checks a duration: "10", "1.5s", "500ms", "2m", from 1 ms to 1 hour.
inline CLI::Validator duration_check() {
  return CLI::Validator([](std::string& value) -> std::string { return parse_duration(value).error; },
                        "DURATION");
}

/// Checks a host: an IP address literal ([::1] allowed), or a name of at most 253 characters
/// made of letters, digits, '-', '_' and '.', in labels of at most 63.
inline CLI::Validator host_check() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        std::string v = value;
        if (v.size() > 2 && v.front() == '[' && v.back() == ']') v = v.substr(1, v.size() - 2);
        constexpr const char* valid = "give a name such as localhost or an address such as 127.0.0.1 or ::1";
        if (v.empty()) return std::string("the host is empty: ") + valid;
        if (is_ip_address(v)) return {};
        if (v.size() > 253)
          return "the host \"" + printable(v, 40) + "\" is " + std::to_string(v.size()) +
                 " characters long; a host name has at most 253";
        std::size_t label = 0;
        for (char c : v) {
          bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
          if (!ok)
            return "the host \"" + printable(v, 60) + "\" is not a valid name: \"" +
                   printable(std::string(1, c), 8) +
                   "\" is not allowed (letters, digits, '-', '_' and '.' are), nor is it an address";
          label = c == '.' ? 0 : label + 1;
          if (label > 63) return "the host \"" + printable(v, 60) + "\" has a label over 63 characters";
        }
        return {};
      },
      "HOST");
}

/// The output options both programs have, as given on the command line.
struct output_options {
  std::string format = "text";  ///< "text" or "json"
  std::string color = "auto";   ///< "auto", "always" or "never"

  /// The chosen format.
  output_format chosen_format() const { return format == "json" ? output_format::json : output_format::text; }
  /// The chosen colour mode.
  color_mode chosen_color() const {
    return color == "always" ? color_mode::always : color == "never" ? color_mode::never : color_mode::auto_detect;
  }
};

/// Adds --format and --color: strings checked against their names, so --help shows
/// {text,json} rather than an enum's numbers, and "1" is not taken for a format.
inline void add_output_options(CLI::App& app, output_options& out) {
  app.add_option("--format", out.format,
                 "text for people, or json: one JSON object per line,\nflushed line by line")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--color", out.color,
                 "colour the text: auto (on a terminal, unless NO_COLOR\nis set), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
}

/// Parses the command line. Returns -1 to go on, or the code to exit with: 0 after --help or
/// --version, 64 (EX_USAGE) after a usage error, which CLI11 has printed to stderr.
inline int parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return exit_code::usage;
  }
  return -1;
}

}  // namespace portdemo::cli
