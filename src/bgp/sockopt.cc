#include "bgp/sockopt.h"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace vane::bgp {

namespace {
boost::system::error_code last() {
  return {errno, boost::system::system_category()};
}
}  // namespace

boost::system::error_code set_md5(int fd, const IpAddress& peer, std::string_view key) {
  if (key.size() > TCP_MD5SIG_MAXKEYLEN)
    return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
  tcp_md5sig sig{};
  if (peer.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&sig.tcpm_addr);
    sin->sin_family = AF_INET;
    std::memcpy(&sin->sin_addr, peer.bytes.data(), 4);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&sig.tcpm_addr);
    sin6->sin6_family = AF_INET6;
    std::memcpy(&sin6->sin6_addr, peer.bytes.data(), 16);
  }
  sig.tcpm_keylen = uint16_t(key.size());
  std::memcpy(sig.tcpm_key, key.data(), key.size());
  if (::setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &sig, sizeof sig) != 0) return last();
  return {};
}

boost::system::error_code set_ttl(int fd, bool v6, int ttl) {
  int rc = v6 ? ::setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof ttl)
              : ::setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
  return rc == 0 ? boost::system::error_code{} : last();
}

boost::system::error_code set_min_ttl(int fd, bool v6, int min_ttl) {
  int rc = v6 ? ::setsockopt(fd, IPPROTO_IPV6, IPV6_MINHOPCOUNT, &min_ttl, sizeof min_ttl)
              : ::setsockopt(fd, IPPROTO_IP, IP_MINTTL, &min_ttl, sizeof min_ttl);
  return rc == 0 ? boost::system::error_code{} : last();
}

}  // namespace vane::bgp
