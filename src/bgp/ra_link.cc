#include "bgp/ra_link.h"

#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace vane::bgp {

namespace asio = boost::asio;
using boost::system::error_code;

RaLink::RaLink(asio::io_context& io, std::string interface, OnRouter on_router)
    : io_(io),
      interface_(std::move(interface)),
      on_router_(std::move(on_router)),
      socket_(io),
      timer_(io),
      rx_retry_(io) {}

RaLink::~RaLink() {
  *alive_ = false;
  error_code ec;
  timer_.cancel();
  rx_retry_.cancel();
  socket_.close(ec);
}

std::optional<std::string> RaLink::start() {
  auto e = open();
  if (e) {
    open_error_ = *e;
    retry_open();
  }
  return e;
}

// A link that could not open (interface not there yet, capability missing) would otherwise leave
// its neighbour Idle until a restart.
void RaLink::retry_open() {
  timer_.expires_after(kInterval);
  timer_.async_wait([this, alive = alive_](error_code ec) {
    if (ec || !*alive) return;
    if (auto e = open()) {
      if (*e != open_error_) spdlog::error("bgp: {} (retrying every {} s)", *e, kInterval.count());
      open_error_ = *e;
      retry_open();
    }
  });
}

std::optional<std::string> RaLink::open() {
  ifindex_ = ::if_nametoindex(interface_.c_str());
  if (ifindex_ == 0) return "interface " + interface_ + ": " + std::strerror(errno);
  error_code ec;
  socket_.open(asio::generic::raw_protocol(AF_INET6, IPPROTO_ICMPV6), ec);
  if (ec) return "router advertisements on " + interface_ + ": raw ICMPv6 socket: " + ec.message();
  const int fd = socket_.native_handle();
  auto fail = [&](const char* what) {
    std::string m = "router advertisements on " + interface_ + ": " + what + ": " + std::strerror(errno);
    socket_.close(ec);
    return m;
  };
  // Only router advertisements reach us: the kernel filters the rest.
  icmp6_filter filter;
  ICMP6_FILTER_SETBLOCKALL(&filter);
  ICMP6_FILTER_SETPASS(ND_ROUTER_ADVERT, &filter);
  if (::setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter) != 0) return fail("ICMP6_FILTER");
  if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, interface_.c_str(), socklen_t(interface_.size())) != 0)
    return fail("SO_BINDTODEVICE");
  const int on = 1, off = 0, hops = 255;
  if (::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &on, sizeof on) != 0) return fail("IPV6_RECVHOPLIMIT");
  if (::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on) != 0) return fail("IPV6_RECVPKTINFO");
  // RFC 4861 6.1.2: sent with 255, so that a receiver knows it was not routed.
  if (::setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) != 0) return fail("IPV6_MULTICAST_HOPS");
  if (::setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex_, sizeof ifindex_) != 0)
    return fail("IPV6_MULTICAST_IF");
  // Our own RAs must not come back to us as a router's.
  if (::setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &off, sizeof off) != 0) return fail("IPV6_MULTICAST_LOOP");
  socket_.non_blocking(true, ec);

  std::vector<uint8_t> mac;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, interface_.c_str(), IFNAMSIZ - 1);
  // Only an Ethernet address is 6 bytes; other links go without the source link-layer option.
  if (::ioctl(fd, SIOCGIFHWADDR, &ifr) == 0 && ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER)
    mac.assign(ifr.ifr_hwaddr.sa_data, ifr.ifr_hwaddr.sa_data + 6);
  ra_ = ra::build(mac);
  spdlog::info("router advertisements on {}: sending every {} s (router lifetime 0), learning the router's address",
               interface_, kInterval.count());
  arm_send(std::chrono::seconds(0));
  receive();
  return std::nullopt;
}

void RaLink::arm_send(std::chrono::steady_clock::duration after) {
  timer_.expires_after(after);
  timer_.async_wait([this, alive = alive_](error_code ec) {
    if (ec || !*alive) return;
    send();
    arm_send(kInterval);
  });
}

void RaLink::send() {
  sockaddr_in6 to{};
  to.sin6_family = AF_INET6;
  to.sin6_addr.s6_addr[0] = 0xff;  // ff02::1, all nodes
  to.sin6_addr.s6_addr[1] = 0x02;
  to.sin6_addr.s6_addr[15] = 0x01;
  to.sin6_scope_id = ifindex_;
  if (::sendto(socket_.native_handle(), ra_.data(), ra_.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
    if (counters_.send_errors++ == 0)
      spdlog::warn("router advertisements on {}: send: {}", interface_, std::strerror(errno));
    return;
  }
  ++counters_.sent;
}

void RaLink::receive() {
  socket_.async_wait(asio::socket_base::wait_read, [this, alive = alive_](error_code ec) {
    if (!*alive || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Transient or not, receiving stops only with the link: try again in a second.
      ++counters_.dropped["receive_error"];
      rx_retry_.expires_after(std::chrono::seconds(1));
      rx_retry_.async_wait([this, alive](error_code e) {
        if (!e && *alive) receive();
      });
      return;
    }
    on_readable();
    receive();
  });
}

void RaLink::on_readable() {
  // Bounded per wakeup, so a flood cannot hold the thread.
  for (int i = 0; i < 64; ++i) {
    // As large as an ICMPv6 message can be, so a valid RA with many options is never truncated.
    uint8_t* buf = rx_buf_.data();
    sockaddr_in6 from{};
    alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(in6_pktinfo))];
    iovec iov{buf, rx_buf_.size()};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(socket_.native_handle(), &msg, MSG_DONTWAIT);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) ++counters_.dropped["receive_error"];
      return;
    }
    int hop_limit = -1;
    unsigned arrived_on = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != IPPROTO_IPV6) continue;
      if (c->cmsg_type == IPV6_HOPLIMIT && c->cmsg_len >= CMSG_LEN(sizeof(int)))
        std::memcpy(&hop_limit, CMSG_DATA(c), sizeof(int));
      if (c->cmsg_type == IPV6_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(in6_pktinfo))) {
        in6_pktinfo pi;
        std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
        arrived_on = pi.ipi6_ifindex;
      }
    }
    if ((msg.msg_flags & MSG_TRUNC) || msg.msg_namelen < sizeof(sockaddr_in6) || from.sin6_family != AF_INET6) {
      ++counters_.dropped["malformed"];
      continue;
    }
    // SO_BINDTODEVICE already limits the socket to the interface; the packet's own ifindex is
    // checked too, so that nothing depends on that alone.
    if (arrived_on != ifindex_) {
      ++counters_.dropped["interface"];
      continue;
    }
    IpAddress src;
    src.family = IpAddress::Family::v6;
    std::memcpy(src.bytes.data(), &from.sin6_addr, 16);
    auto p = ra::parse(std::span<const uint8_t>(buf, size_t(n)), hop_limit, src);
    if (p.refused) {
      ++counters_.dropped[ra::to_string(*p.refused)];
      continue;
    }
    ++counters_.received;
    const auto now = std::chrono::steady_clock::now();
    if (router_ && *router_ == src) {
      router_heard_ = now;
      continue;
    }
    // One router per link: another one is taken only once the current one has gone quiet.
    if (router_ && now - router_heard_ < kForget) {
      if (counters_.dropped["other_router"]++ == 0)
        spdlog::warn("router advertisements on {}: ignoring {}: the router is {}", interface_, src.str(),
                     router_->str());
      continue;
    }
    router_ = src;
    router_heard_ = now;
    spdlog::info("router advertisements on {}: router {}", interface_, src.str());
    // Answer at once: a router that just came up learns us without waiting for our interval.
    arm_send(std::chrono::seconds(0));
    on_router_(router_);
  }
}

}  // namespace vane::bgp
