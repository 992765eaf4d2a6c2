#include "portdemo/translation.hpp"

#include <gtest/gtest.h>

#include "portdemo/render.hpp"

using namespace portdemo;

namespace {
const socket_tuple client{{"10.0.1.2", 51234}, {"10.0.0.1", 8081}};
}

TEST(Translation, MirroredViewsAreNone) {
  const translation t = compare_views(client, {{"10.0.0.1", 8081}, {"10.0.1.2", 51234}});
  EXPECT_EQ(t.kind(), "none");
  EXPECT_FALSE(t.source);
  EXPECT_FALSE(t.destination);
  EXPECT_TRUE(describe_translation(t).empty());
}

TEST(Translation, MappedAddressesAreTheSameHost) {
  EXPECT_EQ(compare_views(client, {{"::ffff:10.0.0.1", 8081}, {"::ffff:10.0.1.2", 51234}}).kind(), "none");
}

TEST(Translation, SourceNatWithThePortKept) {
  const translation t = compare_views(client, {{"10.0.0.1", 8081}, {"10.0.0.254", 51234}});
  EXPECT_EQ(t.kind(), "source_nat");
  ASSERT_TRUE(t.source);
  EXPECT_EQ(*t.source, (endpoint_change{{"10.0.1.2", 51234}, {"10.0.0.254", 51234}, true, false}));
  EXPECT_EQ(describe_translation(t),
            std::vector<std::string>{"source NAT: the client's end 10.0.1.2:51234 arrives at the server as "
                                     "10.0.0.254:51234 (address rewritten, port kept)"});
}

TEST(Translation, SourceNatWithThePortRewritten) {
  const translation t = compare_views(client, {{"10.0.0.1", 8081}, {"10.0.0.254", 40017}});
  ASSERT_TRUE(t.source);
  EXPECT_TRUE(t.source->address);
  EXPECT_TRUE(t.source->port);
  EXPECT_EQ(describe_translation(t).at(0),
            "source NAT: the client's end 10.0.1.2:51234 arrives at the server as 10.0.0.254:40017 (address "
            "and port rewritten; 40017 is a registered port)");
}

TEST(Translation, APortForward) {
  const translation t = compare_views(client, {{"172.17.0.2", 8080}, {"10.0.1.2", 51234}});
  EXPECT_EQ(t.kind(), "destination_nat");
  ASSERT_TRUE(t.destination);
  EXPECT_EQ(*t.destination, (endpoint_change{{"10.0.0.1", 8081}, {"172.17.0.2", 8080}, true, true}));
  EXPECT_EQ(describe_translation(t),
            std::vector<std::string>{"destination NAT (a port forward, a published container port): the client "
                                     "dialled 10.0.0.1:8081, the server listens on 172.17.0.2:8080"});
}

TEST(Translation, BothAndAWildcardServerAddress) {
  translation t = compare_views(client, {{"172.17.0.2", 8080}, {"10.0.0.254", 40017}});
  EXPECT_EQ(t.kind(), "source_and_destination_nat");
  EXPECT_EQ(describe_translation(t).size(), 3u);
  // UDP on 0.0.0.0: only the port can be compared.
  t = compare_views(client, {{"0.0.0.0", 8081}, {"10.0.1.2", 51234}});
  EXPECT_EQ(t.kind(), "none");
  EXPECT_TRUE(t.destination_address_unknown);
  t = compare_views(client, {{"::", 9000}, {"10.0.1.2", 51234}});
  ASSERT_TRUE(t.destination);
  EXPECT_FALSE(t.destination->address);
  EXPECT_EQ(describe_translation(t).at(0),
            "destination NAT (a port forward, a published container port): the client dialled 10.0.0.1:8081, "
            "the server's socket has port 9000");
}

TEST(Translation, TheAnsweredEventCarriesBothViews) {
  answered_event e{7, true, 60, "portdemo-hello 1\n", answered_event::views{client, {{"10.0.0.1", 8081}, {"10.0.0.254", 51234}}}};
  EXPECT_EQ(render_json(e),
            R"({"event":"answered","id":7,"report":"json","received_bytes":60,"received":"portdemo-hello 1\\n",)"
            R"("client_view":{"local":{"address":"10.0.1.2","port":51234},"remote":{"address":"10.0.0.1","port":8081}},)"
            R"("translation":{"kind":"source_nat","source":{"before":{"address":"10.0.1.2","port":51234},)"
            R"("after":{"address":"10.0.0.254","port":51234},"address_rewritten":true,"port_rewritten":false,)"
            R"("after_port_class":"dynamic"},"destination":null,"destination_address_known":true}})"
            "\n");
}
