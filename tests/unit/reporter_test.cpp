#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "portdemo/reporter.hpp"

namespace portdemo {
namespace {

// Everything written to a temporary file, from the start.
std::string contents(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buffer[256];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) out.append(buffer, n);
  return out;
}

// Sets an environment variable for the life of the object, then restores it.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~scoped_env() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

host_facts linux_facts() {
  host_facts f;
  f.ephemeral = port_range{32768, 60999};
  f.unprivileged_port_start = 1024;
  return f;
}

TEST(UseColor, AlwaysAndNever) {
  EXPECT_TRUE(use_color(color_mode::always, stdout));
  EXPECT_FALSE(use_color(color_mode::never, stdout));
}

TEST(UseColor, AutoIsOffForAFile) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  scoped_env no_color("NO_COLOR", nullptr);
  EXPECT_FALSE(use_color(color_mode::auto_detect, f));
  std::fclose(f);
}

TEST(UseColor, AlwaysWinsOverNoColor) {
  scoped_env no_color("NO_COLOR", "1");
  EXPECT_TRUE(use_color(color_mode::always, stdout));
  EXPECT_FALSE(use_color(color_mode::auto_detect, stdout));
}

TEST(Reporter, JsonIsOneLinePerEvent) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    reporter r(output_format::json, linux_facts(), true, f);
    r.emit(ready_event{1, 0, {8080}});
    r.emit(note_event{"k", "m"});
  }
  EXPECT_EQ(contents(f),
            "{\"event\":\"ready\",\"listening\":1,\"failed\":0,\"ports\":[8080],\"tls_ports\":[],\"udp_ports\":[],\"quic_ports\":[]}\n"
            "{\"event\":\"note\",\"code\":\"k\",\"message\":\"m\"}\n");
  std::fclose(f);
}

TEST(Reporter, TextAsTheRendererSaysIt) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    reporter r(output_format::text, linux_facts(), false, f);
    r.emit(ready_event{0, 1, {}});
  }
  EXPECT_EQ(contents(f), "stopped: not one socket is listening (1 failed)\n");
  std::fclose(f);
}

TEST(Reporter, KeepsItsFacts) {
  reporter r(output_format::text, linux_facts(), false, stdout);
  EXPECT_EQ(r.facts().unprivileged_port_start, std::uint16_t{1024});
  EXPECT_EQ(r.facts().ephemeral, (port_range{32768, 60999}));
}

TEST(Reporter, ABrokenOutputIsNotFatal) {
  // A stream opened read-only refuses every write, as a closed pipe would.
  std::FILE* f = std::fopen("/dev/null", "r");
  ASSERT_NE(f, nullptr);
  reporter r(output_format::json, linux_facts(), false, f);
  r.emit(ready_event{1, 0, {8080}});
  r.emit(ready_event{1, 0, {8080}});
  EXPECT_EQ(std::ferror(f), 0);
  std::fclose(f);
}

}  // namespace
}  // namespace portdemo
