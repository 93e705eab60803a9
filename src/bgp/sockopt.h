#pragma once
// Socket options a BGP session needs: TCP MD5 (RFC 2385), outgoing TTL for eBGP/multihop, and
// GTSM (RFC 5082) as a minimum incoming TTL. Each returns an error_code rather than throwing,
// since they run on the session's path.
#include <boost/system/error_code.hpp>
#include <string_view>

#include "common/ip.h"

namespace vane::bgp {

// Installs (or with an empty key removes) the MD5 key for segments to and from `peer` on fd.
// On a listening socket this covers every connection the peer makes to it.
boost::system::error_code set_md5(int fd, const IpAddress& peer, std::string_view key);
// TTL / hop limit of packets sent on fd.
boost::system::error_code set_ttl(int fd, bool v6, int ttl);
// GTSM: drop incoming packets whose TTL is below min_ttl (255 - hops + 1).
boost::system::error_code set_min_ttl(int fd, bool v6, int min_ttl);

}  // namespace vane::bgp
