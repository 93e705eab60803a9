#include "common/sanitize.h"

#include <gtest/gtest.h>

namespace vane {
namespace {

TEST(Printable, KeepsPrintableAscii) {
  EXPECT_EQ(printable("up 50 web-1"), "up 50 web-1");
}

TEST(Printable, EscapesControlBytesAndBackslash) {
  // A terminal escape (clear screen), a forged log line and a backslash.
  EXPECT_EQ(printable("\x1b[2J"), "\\x1b[2J");
  EXPECT_EQ(printable("a\nINFO fake"), "a\\x0aINFO fake");
  EXPECT_EQ(printable("a\\x41"), "a\\\\x41");
  EXPECT_EQ(printable(std::string_view("\0\x7f\xff", 3)), "\\x00\\x7f\\xff");
}

TEST(Printable, CutsLongInput) {
  EXPECT_EQ(printable(std::string(10, 'a'), 4), "aaaa...");
  EXPECT_EQ(printable(std::string(4, 'a'), 4), "aaaa");
}

TEST(Printable, OutputIsAlwaysPrintable) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (unsigned char c : printable(all, 1024)) EXPECT_TRUE(c >= 0x20 && c <= 0x7e) << int(c);
}

}  // namespace
}  // namespace vane
