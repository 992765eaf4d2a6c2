// QR codes: the matrix libqrencode makes (size by length, the fixed patterns), the terminal
// drawing character by character, and both read back by a real decoder (zbarimg).
#include <gtest/gtest.h>

#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "portdemo/qr.hpp"

namespace portdemo {
namespace {

// ---- helpers -----------------------------------------------------------------------------

// A line split into its UTF-8 characters, so that widths count what a terminal shows.
std::vector<std::string> glyphs(std::string_view line) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < line.size();) {
    const auto lead = static_cast<unsigned char>(line[i]);
    const std::size_t n = lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
    out.emplace_back(line.substr(i, n));
    i += n;
  }
  return out;
}

std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// The finder pattern with its light separator, as it sits in the top-left corner.
const std::vector<std::string> finder_top_left = {
    "####### ", "#     # ", "# ### # ", "# ### # ", "# ### # ", "#     # ", "####### ", "        "};

// The 8x8 block of `code` whose top-left module is (row, column).
std::vector<std::string> block(const qr_code& code, int row, int column) {
  std::vector<std::string> out;
  for (int r = row; r < row + 8; ++r)
    out.push_back(code.rows[static_cast<std::size_t>(r)].substr(static_cast<std::size_t>(column), 8));
  return out;
}

std::vector<std::string> mirrored_columns(std::vector<std::string> rows) {
  for (auto& r : rows) r = std::string(r.rbegin(), r.rend());
  return rows;
}

std::vector<std::string> mirrored_rows(std::vector<std::string> rows) { return {rows.rbegin(), rows.rend()}; }

// A black-and-white picture, true for black.
using bitmap = std::vector<std::vector<bool>>;

constexpr int pixels_per_module = 8;

// Draws `modules` (true for dark) at 8x8 pixels a module.
bitmap scaled(const std::vector<std::vector<bool>>& modules) {
  bitmap out;
  for (const auto& row : modules) {
    std::vector<bool> line;
    for (bool dark : row) line.insert(line.end(), pixels_per_module, dark);
    out.insert(out.end(), pixels_per_module, line);
  }
  return out;
}

// The terminal as it looks: each character one module wide and two tall, the drawn (light)
// parts white, the rest the terminal's black background, which also surrounds the code for
// `border` modules (a dark terminal window).
bitmap terminal_picture(const std::vector<std::string>& lines, int border) {
  std::vector<std::vector<bool>> modules;
  std::size_t width = 0;
  for (const auto& line : lines) {
    std::vector<bool> upper;
    std::vector<bool> lower;
    for (const std::string& g : glyphs(line)) {
      // █ both halves light, ▀ upper light, ▄ lower light, space neither.
      EXPECT_TRUE(g == "\u2588" || g == "\u2580" || g == "\u2584" || g == " ") << "unexpected character " << g;
      upper.push_back(!(g == "\u2588" || g == "\u2580"));
      lower.push_back(!(g == "\u2588" || g == "\u2584"));
    }
    width = upper.size();
    modules.push_back(upper);
    modules.push_back(lower);
  }
  const auto b = static_cast<std::size_t>(border);
  std::vector<std::vector<bool>> framed(b, std::vector<bool>(width + 2 * b, true));
  for (const auto& row : modules) {
    std::vector<bool> r(b, true);
    r.insert(r.end(), row.begin(), row.end());
    r.insert(r.end(), b, true);
    framed.push_back(r);
  }
  framed.insert(framed.end(), b, std::vector<bool>(width + 2 * b, true));
  return scaled(framed);
}

// The matrix itself as printed on paper: dark modules black inside a white quiet zone.
bitmap matrix_picture(const qr_code& code, int quiet) {
  const auto q = static_cast<std::size_t>(quiet);
  const std::size_t side = static_cast<std::size_t>(code.size) + 2 * q;
  std::vector<std::vector<bool>> modules(side, std::vector<bool>(side, false));
  for (std::size_t r = 0; r < code.rows.size(); ++r)
    for (std::size_t c = 0; c < code.rows[r].size(); ++c) modules[r + q][c + q] = code.rows[r][c] == '#';
  return scaled(modules);
}

// Runs zbarimg on pictures written as plain PBM (P1: '1' black, '0' white), which zbarimg reads
// through ImageMagick's PNM coder: no other image library is needed.
class QrDecode : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v zbarimg >/dev/null 2>&1") != 0)
      GTEST_SKIP() << "zbarimg is not installed (Debian zbar-tools, in scripts/install-deps.sh): cannot "
                      "decode the codes";
    std::string pattern = (std::filesystem::temp_directory_path() / "portdemo-qr-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // What `zbarimg --raw -q` prints for the picture (its stderr appended, for failures).
  std::string decode(const bitmap& picture, const std::string& name) {
    const std::filesystem::path file = dir_ / (name + ".pbm");
    const std::filesystem::path errors = dir_ / (name + ".err");
    {
      std::ofstream out(file);
      out << "P1\n" << picture.front().size() << ' ' << picture.size() << '\n';
      for (const auto& row : picture) {
        for (bool black : row) out << (black ? '1' : '0');
        out << '\n';
      }
    }
    const std::string command = "zbarimg --raw -q '" + file.string() + "' 2>'" + errors.string() + "'";
    std::FILE* p = popen(command.c_str(), "r");
    if (!p) return "popen failed";
    std::string output;
    char buffer[4096];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, p)) > 0;) output.append(buffer, n);
    const int status = pclose(p);
    if (status != 0) {
      std::ifstream err(errors);
      output += "[zbarimg exit " + std::to_string(WEXITSTATUS(status)) + ": " +
                std::string(std::istreambuf_iterator<char>(err), {}) + "]";
    }
    return output;
  }

  std::filesystem::path dir_;
};

const std::string long_url =
    "http://10.99.0.1:8080/" + std::string(200 - 22 - 4, 'a') + "?q=1";  // 200 characters

// ---- make_qr -----------------------------------------------------------------------------

TEST(MakeQr, SizeFollowsTheVersionTheLengthNeeds) {
  // Level M, 8-bit: version 1 (21 modules) holds 14 bytes, version 2 (25) 26, version 10 (57)
  // 213, version 40 (177) 2331.
  EXPECT_EQ(make_qr(std::string(14, 'a'))->size, 21);
  EXPECT_EQ(make_qr(std::string(15, 'a'))->size, 25);
  EXPECT_EQ(make_qr("http://10.99.0.1:8080/")->size, 25);
  EXPECT_EQ(make_qr("https://[2001:db8::5]:8443/")->size, 29);  // 27 bytes: version 3
  ASSERT_EQ(long_url.size(), 200u);
  EXPECT_EQ(make_qr(long_url)->size, 57);
  EXPECT_EQ(make_qr(std::string(2331, 'a'))->size, 177);
}

TEST(MakeQr, RowsAreSizeCharactersOfDarkOrLight) {
  auto code = make_qr("http://10.99.0.1:8080/");
  ASSERT_TRUE(code);
  ASSERT_EQ(code->rows.size(), 25u);
  for (const auto& row : code->rows) {
    EXPECT_EQ(row.size(), 25u);
    EXPECT_EQ(row.find_first_not_of("# "), std::string::npos) << row;
  }
}

TEST(MakeQr, FinderPatternsInThreeCornersTimingAndTheDarkModule) {
  auto code = make_qr("http://10.99.0.1:8080/");
  ASSERT_TRUE(code);
  const int n = code->size;
  EXPECT_EQ(block(*code, 0, 0), finder_top_left);
  EXPECT_EQ(block(*code, 0, n - 8), mirrored_columns(finder_top_left));
  EXPECT_EQ(block(*code, n - 8, 0), mirrored_rows(finder_top_left));
  // Timing patterns: row 6 and column 6 alternate between the finders, dark on even indexes.
  for (int i = 8; i < n - 8; ++i) {
    const char expected = i % 2 == 0 ? '#' : ' ';
    EXPECT_EQ(code->rows[6][static_cast<std::size_t>(i)], expected) << "row 6, column " << i;
    EXPECT_EQ(code->rows[static_cast<std::size_t>(i)][6], expected) << "column 6, row " << i;
  }
  // Every code has one dark module at row 4 * version + 9, column 8 (version 2 here).
  EXPECT_EQ(code->rows[17][8], '#');
}

TEST(MakeQr, TooLongOrEmptyIsNullopt) {
  EXPECT_FALSE(make_qr(std::string(2332, 'a')));
  EXPECT_FALSE(make_qr(std::string(5000, 'a')));
  EXPECT_FALSE(make_qr(""));
}

TEST(MakeQr, AnyByteIsData) {
  // A string_view is not NUL-terminated, and a NUL inside is data.
  const std::string with_nul("a\0b", 3);
  auto code = make_qr(with_nul);
  ASSERT_TRUE(code);
  EXPECT_NE(code->rows, make_qr("a")->rows);
  EXPECT_TRUE(make_qr(std::string_view("abcdef").substr(0, 3)));
}

// ---- qr_terminal_lines -------------------------------------------------------------------

TEST(QrTerminalLines, HandCheckedSmallMatrix) {
  const qr_code code{3, {"# #", " # ", "###"}};
  // quiet 1: module rows -1..3 plus the light padding row 4. Light is drawn, dark is blank:
  //   line 0 = rows -1 (light) over 0 ("# #")   -> █▀█▀█
  //   line 1 = rows 1 (" # ") over 2 ("###")    -> █▀ ▀█
  //   line 2 = rows 3 (quiet) over 4 (padding)  -> █████
  EXPECT_EQ(qr_terminal_lines(code, false, 1),
            (std::vector<std::string>{"█▀█▀█", "█▀ ▀█", "█████"}));
  // quiet 0: the odd third row has the padding row under it, which is light.
  //   line 0 = "# #" over " # "  -> ▄▀▄
  //   line 1 = "###" over light  -> ▄▄▄
  EXPECT_EQ(qr_terminal_lines(code, false, 0), (std::vector<std::string>{"▄▀▄", "▄▄▄"}));
  EXPECT_EQ(qr_terminal_lines(code, false, -3), qr_terminal_lines(code, false, 0));
}

TEST(QrTerminalLines, QuietZoneThenTheFinderPatterns) {
  auto code = make_qr("http://10.99.0.1:8080/");
  ASSERT_TRUE(code);
  const auto lines = qr_terminal_lines(*code, false);  // quiet 2: 29 modules, 29 rows + 1 padding
  ASSERT_EQ(lines.size(), 15u);
  for (const auto& line : lines) EXPECT_EQ(glyphs(line).size(), 29u) << line;
  EXPECT_EQ(lines[0], repeat("█", 29));  // two rows of quiet zone
  // Module rows 0 and 1: the finders' top edge "#######" over "#     #", then the light separator.
  EXPECT_TRUE(lines[1].starts_with("██ ▄▄▄▄▄ █")) << lines[1];
  EXPECT_TRUE(lines[1].ends_with("█ ▄▄▄▄▄ ██")) << lines[1];
  // Rows 22 and 23 ("# ### #" over "#     #"), then row 24 ("#######") over quiet zone.
  EXPECT_TRUE(lines[12].starts_with("██ █▄▄▄█ █")) << lines[12];
  EXPECT_TRUE(lines[13].starts_with("██▄▄▄▄▄▄▄█")) << lines[13];
  // Rows 25 and 26 are quiet zone, 27 too, and 28 the padding: two full lines.
  EXPECT_EQ(lines[14], repeat("█", 29));
}

TEST(QrTerminalLines, ColorWrapsEveryLine) {
  auto code = make_qr("http://10.99.0.1:8080/");
  ASSERT_TRUE(code);
  const auto plain = qr_terminal_lines(*code, false);
  const auto colored = qr_terminal_lines(*code, true);
  ASSERT_EQ(colored.size(), plain.size());
  for (std::size_t i = 0; i < plain.size(); ++i)
    EXPECT_EQ(colored[i], "\x1b[97;40m" + plain[i] + "\x1b[0m");
  EXPECT_EQ(qr_terminal_lines(qr_code{1, {"#"}}, true, 0), (std::vector<std::string>{"\x1b[97;40m▄\x1b[0m"}));
}

// ---- decoding, by zbarimg ----------------------------------------------------------------

const std::vector<std::string> urls = {"http://10.99.0.1:8080/", "https://[2001:db8::5]:8443/", long_url};

TEST_F(QrDecode, TerminalDrawingOnADarkTerminalReadsAsTheUrl) {
  for (std::size_t i = 0; i < urls.size(); ++i) {
    auto code = make_qr(urls[i]);
    ASSERT_TRUE(code) << urls[i];
    EXPECT_EQ(decode(terminal_picture(qr_terminal_lines(*code, false), 4), "terminal" + std::to_string(i)),
              urls[i] + "\n");
  }
}

TEST_F(QrDecode, TerminalDrawingWithoutAQuietZoneDoesNotRead) {
  // The check that the decoder really looks at the picture: with quiet 0 the dark terminal
  // touches the finder patterns, which then are no longer squares, and nothing is found
  // (zbarimg's exit status 4). The default quiet zone of 2 is what makes the drawing readable.
  auto code = make_qr(urls[0]);
  ASSERT_TRUE(code);
  EXPECT_EQ(decode(terminal_picture(qr_terminal_lines(*code, false, 0), 4), "unframed"), "[zbarimg exit 4: ]");
}

TEST_F(QrDecode, MatrixWithAQuietZoneOfFourReadsAsTheText) {
  for (std::size_t i = 0; i < urls.size(); ++i) {
    auto code = make_qr(urls[i]);
    ASSERT_TRUE(code) << urls[i];
    EXPECT_EQ(decode(matrix_picture(*code, 4), "matrix" + std::to_string(i)), urls[i] + "\n");
  }
}

}  // namespace
}  // namespace portdemo
