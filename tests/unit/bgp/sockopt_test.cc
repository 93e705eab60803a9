// The session socket options take effect on real sockets: what the kernel reports back is what
// GTSM, the TTL and TCP MD5 need.
#include "bgp/sockopt.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace vane::bgp {
namespace {

struct Fd {
  int fd;
  explicit Fd(int family) : fd(::socket(family, SOCK_STREAM, 0)) {}
  ~Fd() { ::close(fd); }
};

int get_int(int fd, int level, int opt) {
  int v = -1;
  socklen_t len = sizeof v;
  EXPECT_EQ(::getsockopt(fd, level, opt, &v, &len), 0);
  return v;
}

TEST(SockOpt, GtsmSetsTheMinimumIncomingTtl) {
  Fd s4(AF_INET), s6(AF_INET6);
  EXPECT_FALSE(set_min_ttl(s4.fd, false, 255));
  EXPECT_EQ(get_int(s4.fd, IPPROTO_IP, IP_MINTTL), 255);
  EXPECT_FALSE(set_min_ttl(s6.fd, true, 254));
  EXPECT_EQ(get_int(s6.fd, IPPROTO_IPV6, IPV6_MINHOPCOUNT), 254);
}

TEST(SockOpt, OutgoingTtlForEbgpAndMultihop) {
  Fd s4(AF_INET), s6(AF_INET6);
  EXPECT_FALSE(set_ttl(s4.fd, false, 1));
  EXPECT_EQ(get_int(s4.fd, IPPROTO_IP, IP_TTL), 1);
  EXPECT_FALSE(set_ttl(s6.fd, true, 64));
  EXPECT_EQ(get_int(s6.fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS), 64);
}

TEST(SockOpt, Md5KeyIsAcceptedAndAnOversizedKeyRefused) {
  Fd s4(AF_INET);
  EXPECT_FALSE(set_md5(s4.fd, *IpAddress::parse("192.0.2.1"), "s3cret"));
  EXPECT_TRUE(set_md5(s4.fd, *IpAddress::parse("192.0.2.1"), std::string(81, 'k')));
}

}  // namespace
}  // namespace vane::bgp
