#include "bfd/service.h"

#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace vane::bfd {

namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

asio::ip::address to_asio(const IpAddress& a) {
  if (a.is_v4()) return asio::ip::address_v4(a.v4_host_order());
  asio::ip::address_v6::bytes_type b;
  std::copy(a.bytes.begin(), a.bytes.end(), b.begin());
  return asio::ip::address_v6(b);
}

std::optional<IpAddress> from_sockaddr(const sockaddr_storage& ss) {
  IpAddress a;
  if (ss.ss_family == AF_INET) {
    auto* s = reinterpret_cast<const sockaddr_in*>(&ss);
    std::memcpy(a.bytes.data(), &s->sin_addr, 4);
    return a;
  }
  if (ss.ss_family == AF_INET6) {
    auto* s = reinterpret_cast<const sockaddr_in6*>(&ss);
    // A v4-mapped source never matches a peer: the v6 sockets are v6-only.
    a.family = IpAddress::Family::v6;
    std::memcpy(a.bytes.data(), &s->sin6_addr, 16);
    return a;
  }
  return std::nullopt;
}

int set_int(int fd, int level, int opt, int v) {
  return ::setsockopt(fd, level, opt, &v, sizeof v);
}

}  // namespace

// One listening socket per family and kind, reading TTL / hop limit with each packet.
class Service::Receiver {
 public:
  Receiver(Service& svc, bool v6, bool multihop) : svc_(svc), v6_(v6), multihop_(multihop), sock_(svc.io_) {}

  std::string open() {
    boost::system::error_code ec;
    sock_.open(v6_ ? udp::v6() : udp::v4(), ec);
    if (ec) return ec.message();
    int fd = sock_.native_handle();
    if (v6_) set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    if (set_int(fd, v6_ ? IPPROTO_IPV6 : IPPROTO_IP, v6_ ? IPV6_RECVHOPLIMIT : IP_RECVTTL, 1) != 0)
      return std::string("cannot read the TTL of packets: ") + std::strerror(errno);
    const uint16_t port = multihop_ ? kMultihopPort : kSingleHopPort;
    sock_.bind(udp::endpoint(v6_ ? udp::v6() : udp::v4(), port), ec);
    if (ec) return "bind UDP port " + std::to_string(port) + ": " + ec.message();
    sock_.non_blocking(true, ec);
    wait();
    return {};
  }

 private:
  void wait() {
    sock_.async_wait(udp::socket::wait_read, [this](const boost::system::error_code& ec) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) drain();
      wait();
    });
  }

  void drain() {
    // A bounded batch per wakeup, so a flood cannot starve the rest of the io_context.
    for (int i = 0; i < 64; i++) {
      uint8_t buf[512];
      sockaddr_storage from{};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int)) * 2];
      iovec iov{buf, sizeof buf};
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof from;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t n = ::recvmsg(sock_.native_handle(), &msg, MSG_DONTWAIT);
      if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) svc_.counters_.receive_errors++;
        return;
      }
      int ttl = -1;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) ||
            (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)) {
          std::memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
        }
      }
      auto src = from_sockaddr(from);
      if (!src) {
        svc_.counters_.unknown_source++;
        continue;
      }
      // A payload larger than the buffer was cut: the codec sees at most 512 bytes, and
      // Length is at most 255, so a cut can only drop bytes past Length.
      svc_.deliver(multihop_, *src, ttl, buf, size_t(n) > sizeof buf ? sizeof buf : size_t(n));
    }
  }

  Service& svc_;
  bool v6_, multihop_;
  udp::socket sock_;
};

class Service::Peer {
 public:
  Peer(Service& svc, PeerConfig cfg, uint32_t discr)
      : svc_(svc),
        cfg_(std::move(cfg)),
        session_(discr, cfg_.session, svc.rng_(), Clock::now()),
        sock_(svc.io_),
        timer_(svc.io_) {}

  ~Peer() {
    // Tell the peer the session is going away rather than let it time out (RFC 5880 §6.8.16).
    if (sock_.is_open()) {
      session_.set_admin_down(true, Clock::now());
      send_pending();
    }
  }

  std::string open() {
    boost::system::error_code ec;
    const bool v6 = cfg_.peer.is_v6();
    sock_.open(v6 ? udp::v6() : udp::v4(), ec);
    if (ec) return error(ec.message());
    int fd = sock_.native_handle();
    // RFC 5881 §5 / RFC 5883 §5: sent with TTL 255, so that the single-hop receiver's check holds.
    if (set_int(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_UNICAST_HOPS : IP_TTL, 255) != 0)
      return error(std::string("set TTL 255: ") + std::strerror(errno));
    asio::ip::address local = cfg_.local ? to_asio(*cfg_.local)
                                         : (v6 ? asio::ip::address(asio::ip::address_v6::any())
                                               : asio::ip::address(asio::ip::address_v4::any()));
    // RFC 5881 §4: a source port in 49152..65535, unique per session here.
    std::uniform_int_distribution<int> port(49152, 65535);
    for (int i = 0; i < 64; i++) {
      sock_.bind(udp::endpoint(local, uint16_t(port(svc_.rng_))), ec);
      if (ec != asio::error::address_in_use) break;
    }
    if (ec) return error("bind a source port on " + local.to_string() + ": " + ec.message());
    sock_.non_blocking(true, ec);
    dest_ = udp::endpoint(to_asio(cfg_.peer), cfg_.multihop() ? kMultihopPort : kSingleHopPort);
    pump();
    return {};
  }

  void receive(const Packet& p, Bytes wire) {
    const State before = session_.state();
    session_.receive(p, wire, Clock::now());
    after(before);
  }

  void configure(const PeerConfig& cfg) {
    const State before = session_.state();
    cfg_ = cfg;
    session_.configure(cfg.session, Clock::now());
    after(before);
  }

  void set_admin_down(bool down) {
    const State before = session_.state();
    session_.set_admin_down(down, Clock::now());
    after(before);
  }

  const PeerConfig& config() const { return cfg_; }
  const Session& session() const { return session_; }
  const std::string& last_error() const { return last_error_; }

 private:
  std::string error(std::string e) {
    last_error_ = e;
    return e;
  }

  void after(State before) {
    pump();
    const State now = session_.state();
    if (now != before) {
      spdlog::info("bfd {}: {} -> {} ({})", cfg_.name, state_name(before), state_name(now),
                   diag_name(session_.local_diag()));
      if (svc_.hook_) svc_.hook_(cfg_.name, before, now, session_.local_diag());
    }
  }

  void send_pending() {
    while (auto w = session_.take_packet()) {
      boost::system::error_code ec;
      sock_.send_to(asio::buffer(*w), dest_, 0, ec);
      // A full socket buffer or an unreachable peer loses this packet; the next one follows at
      // the next interval, and the peer's detection time covers the gap.
      if (ec) last_error_ = "send: " + ec.message();
    }
  }

  void pump() {
    if (!sock_.is_open()) return;
    send_pending();
    auto next = session_.next_deadline();
    if (next == TimePoint::max()) next = Clock::now() + std::chrono::hours(1);
    timer_.expires_at(next);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      const State before = session_.state();
      session_.expire(Clock::now());
      after(before);
    });
  }

  Service& svc_;
  PeerConfig cfg_;
  Session session_;
  udp::socket sock_;
  asio::steady_timer timer_;
  udp::endpoint dest_;
  std::string last_error_;
};

Service::Service(asio::io_context& io) : io_(io), rng_(std::random_device{}()) {}
Service::~Service() = default;

Service::Receiver* Service::receiver(bool v6, bool multihop, std::string& error) {
  auto key = std::make_pair(v6, multihop);
  if (auto it = receivers_.find(key); it != receivers_.end()) return it->second.get();
  auto r = std::make_unique<Receiver>(*this, v6, multihop);
  error = r->open();
  if (!error.empty()) return nullptr;
  return (receivers_[key] = std::move(r)).get();
}

std::vector<std::string> Service::set_peer(const PeerConfig& cfg) {
  std::vector<std::string> errors;
  if (auto it = peers_.find(cfg.name); it != peers_.end()) {
    const PeerConfig& old = it->second->config();
    if (old.peer == cfg.peer && old.local == cfg.local && old.multihop() == cfg.multihop()) {
      it->second->configure(cfg);
      return errors;
    }
    peers_.erase(it);
  }
  std::string err;
  if (!receiver(cfg.peer.is_v6(), cfg.multihop(), err)) errors.push_back("bfd: " + err);
  uint32_t discr = 0;
  // Unique and non-zero (RFC 5880 §6.8.1), and random so that a restart does not reuse the last.
  for (bool taken = true; taken;) {
    discr = uint32_t(rng_());
    taken = discr == 0;
    for (auto& [n, p] : peers_) taken |= p->session().local_discr() == discr;
  }
  auto p = std::make_unique<Peer>(*this, cfg, discr);
  if (auto e = p->open(); !e.empty()) errors.push_back("bfd " + cfg.name + ": " + e);
  peers_[cfg.name] = std::move(p);
  return errors;
}

void Service::remove_peer(const std::string& name) {
  peers_.erase(name);
}
bool Service::has_peer(const std::string& name) const {
  return peers_.count(name) != 0;
}

void Service::set_admin_down(const std::string& name, bool down) {
  if (auto it = peers_.find(name); it != peers_.end()) it->second->set_admin_down(down);
}

void Service::deliver(bool multihop, const IpAddress& from, int ttl, const uint8_t* data, size_t len) {
  Peer* peer = nullptr;
  for (auto& [n, p] : peers_)
    if (p->config().peer == from && p->config().multihop() == multihop) peer = p.get();
  if (!peer) {
    counters_.unknown_source++;
    return;
  }
  // RFC 5881 §5: exactly 255 on a single hop; RFC 5883 §5 leaves multihop to configuration:
  // at most `hops` routers away.
  const int min_ttl = multihop ? 256 - peer->config().hops : 255;
  if (ttl < min_ttl) {
    counters_.bad_ttl++;
    return;
  }
  Bytes wire(data, len);
  auto p = decode(wire);
  if (!p) {
    counters_.malformed++;
    return;
  }
  peer->receive(*p, wire);
}

std::vector<PeerStatus> Service::status() const {
  std::vector<PeerStatus> out;
  for (auto& [n, p] : peers_) {
    const Session& s = p->session();
    PeerStatus st;
    st.config = p->config();
    st.state = s.state();
    st.remote_state = s.remote_state();
    st.local_diag = s.local_diag();
    st.remote_diag = s.remote_diag();
    st.local_discr = s.local_discr();
    st.remote_discr = s.remote_discr();
    st.tx_interval = s.tx_interval();
    st.detection_time = s.detection_time();
    st.remote_min_rx = s.remote_min_rx();
    st.remote_min_tx = s.remote_min_tx();
    st.remote_mult = s.remote_detect_mult();
    st.poll = s.poll_active();
    st.since = s.since();
    st.counters = s.counters();
    st.last_error = p->last_error();
    out.push_back(std::move(st));
  }
  return out;
}

std::optional<State> Service::state(const std::string& name) const {
  auto it = peers_.find(name);
  if (it == peers_.end()) return std::nullopt;
  return it->second->session().state();
}

}  // namespace vane::bfd
