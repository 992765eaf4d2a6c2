#include <gtest/gtest.h>

#include "portdemo/ports.hpp"

namespace portdemo {
namespace {

TEST(Classify, Boundaries) {
  EXPECT_EQ(classify(0), port_class::well_known);
  EXPECT_EQ(classify(1023), port_class::well_known);
  EXPECT_EQ(classify(1024), port_class::registered);
  EXPECT_EQ(classify(49151), port_class::registered);
  EXPECT_EQ(classify(49152), port_class::dynamic);
  EXPECT_EQ(classify(65535), port_class::dynamic);
}

}  // namespace
}  // namespace portdemo
