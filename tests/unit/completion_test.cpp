// The bash completion (completions/portdemo.bash) offers the service names of the built-in table
// for ports. It holds its own copy of the table, name:port, so that completing needs no program
// run; this test is what keeps the copy equal to service_table().

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "portdemo/services.hpp"

namespace portdemo {
namespace {

// The words between "_portdemo_services=(" and the closing ")", comments left out.
std::vector<std::string> completion_services(const std::string& script) {
  std::vector<std::string> words;
  const std::string start = "\n_portdemo_services=(";
  auto begin = script.find(start);
  if (begin == std::string::npos) return words;
  auto end = script.find("\n)", begin);
  std::istringstream body(script.substr(begin + start.size(), end - begin - start.size()));
  std::string line;
  while (std::getline(body, line)) {
    line = line.substr(0, line.find('#'));
    std::istringstream in(line);
    for (std::string word; in >> word;) words.push_back(word);
  }
  return words;
}

TEST(Completion, ServiceNamesAreTheBuiltInTable) {
  std::ifstream file(PORTDEMO_COMPLETION_FILE);
  ASSERT_TRUE(file) << "cannot read " << PORTDEMO_COMPLETION_FILE;
  std::stringstream script;
  script << file.rdbuf();

  std::vector<std::string> expected;
  for (const auto& s : service_table()) expected.push_back(std::string(s.name) + ":" + std::to_string(s.port));
  EXPECT_EQ(completion_services(script.str()), expected)
      << "completions/portdemo.bash: _portdemo_services must list service_table() (common/src/services.cpp) "
         "as name:port, in the same order";
}

TEST(Completion, EveryNameCompletedIsAcceptedAsAPort) {
  for (const auto& s : service_table()) {
    auto port = find_service_port(s.name);
    ASSERT_TRUE(port) << s.name;
    EXPECT_EQ(*port, s.port) << s.name;
  }
}

}  // namespace
}  // namespace portdemo
