#include "bgp/speaker.h"

#include <linux/capability.h>
#include <spdlog/spdlog.h>

#include <net/if.h>
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <deque>
#include <set>

#include "bgp/neighbor_change.h"
#include "bgp/rib.h"
#include "bgp/sockopt.h"
#include "bgp/wire/hex.h"
#include "bgp/wire/message.h"
#include "bgp/wire/reader.h"
#include "common/caps.h"
#include "common/sanitize.h"

namespace vane::bgp {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;

namespace {

tcp::endpoint endpoint(const IpAddress& a, uint16_t port, unsigned long scope = 0) {
  if (a.is_v4()) {
    asio::ip::address_v4::bytes_type b;
    std::copy_n(a.bytes.begin(), 4, b.begin());
    return {asio::ip::address_v4(b), port};
  }
  asio::ip::address_v6::bytes_type b;
  std::copy_n(a.bytes.begin(), 16, b.begin());
  return {asio::ip::address_v6(b, a.is_link_local() ? scope : 0), port};
}

IpAddress address_of(const asio::ip::address& a) {
  if (a.is_v4()) return IpAddress::v4(a.to_v4().to_uint());
  if (a.to_v6().is_v4_mapped()) return IpAddress::v4(a.to_v6().to_v4().to_uint());
  IpAddress r;
  r.family = IpAddress::Family::v6;
  auto b = a.to_v6().to_bytes();
  std::copy(b.begin(), b.end(), r.bytes.begin());
  return r;
}

// Walks a validated path attribute field and keeps every attribute but the NLRI inside
// MP_REACH/MP_UNREACH, so routes of one IPv6 UPDATE share one interned copy with those of the next.
std::vector<uint8_t> attrs_without_mp(std::span<const uint8_t> field) {
  std::vector<uint8_t> out;
  out.reserve(field.size());
  wire::Reader r(field);
  while (!r.empty()) {
    const wire::Bytes whole = r.rest();
    uint8_t flags = 0, type = 0, len8 = 0;
    uint16_t len = 0;
    if (!r.u8(flags) || !r.u8(type)) break;
    const bool extended = flags & 0x10;
    if (extended ? !r.u16(len) : !r.u8(len8)) break;
    if (!extended) len = len8;
    wire::Bytes value;
    if (!r.bytes(len, value)) break;
    if (type == 14) {
      // MP_REACH_NLRI without its NLRI: AFI, SAFI, next hop, reserved byte. The next hop is
      // part of the route's attributes; the prefixes are stored apart.
      wire::Reader v(value);
      uint8_t nh_len = 0;
      if (!v.skip(3) || !v.u8(nh_len) || !v.skip(size_t(nh_len) + 1)) continue;
      const size_t keep = 5 + size_t(nh_len);
      if (keep <= 255)
        out.insert(out.end(), {uint8_t(flags & ~0x10), type, uint8_t(keep)});
      else
        out.insert(out.end(), {uint8_t(flags | 0x10), type, uint8_t(keep >> 8), uint8_t(keep)});
      out.insert(out.end(), value.begin(), value.begin() + long(keep));
    } else if (type != 15) {
      const size_t header = extended ? 4 : 3;
      out.insert(out.end(), whole.begin(), whole.begin() + long(header + len));
    }
  }
  return out;
}

// The path attribute field of an UPDATE body whose lengths the decoder has already checked.
std::span<const uint8_t> attribute_field(std::span<const uint8_t> body) {
  wire::Reader r(body);
  uint16_t withdrawn = 0, attrs = 0;
  wire::Bytes field;
  if (!r.u16(withdrawn) || !r.skip(withdrawn) || !r.u16(attrs) || !r.bytes(attrs, field)) return {};
  return field;
}

std::string describe_attrs(const wire::PathAttributes& a) {
  std::string s = "origin ";
  s += a.origin == wire::Origin::igp ? "igp" : a.origin == wire::Origin::egp ? "egp" : "incomplete";
  s += " as-path";
  for (auto& seg : a.as_path.segments) {
    bool set = seg.type == wire::SegmentType::as_set;
    s += set ? " {" : "";
    for (auto asn : seg.asns) s += " " + std::to_string(asn);
    s += set ? " }" : "";
  }
  if (a.next_hop) s += " next-hop " + a.next_hop->str();
  if (a.mp_next_hop) s += " next-hop " + a.mp_next_hop->str();
  if (a.med) s += " med " + std::to_string(*a.med);
  if (a.local_pref) s += " local-pref " + std::to_string(*a.local_pref);
  for (auto c : a.communities) s += " community " + std::to_string(c >> 16) + ":" + std::to_string(c & 0xffff);
  for (auto& l : a.large_communities)
    s += " large-community " + std::to_string(l.global_admin) + ":" + std::to_string(l.local1) + ":" +
         std::to_string(l.local2);
  return s;
}

// A NOTIFICATION in words with its RFC 8203/9003 shutdown communication. That text is the peer
// operator's free text: printable() keeps terminal escapes and newlines out of logs and vanectl.
std::string describe_notification(const wire::Notification& n) {
  std::string s = wire::describe(n);
  auto text = wire::shutdown_communication(n);
  if (!text)
    s += " (malformed shutdown communication, not shown)";  // RFC 9003 section 2
  else if (!text->empty())
    s += ": \"" + printable(*text) + "\"";
  return s;
}

constexpr uint32_t kStale = 0x80000000u;  // high bit of an Adj-RIB-In value: kept as stale (GR helper)

}  // namespace

// ---------------------------------------------------------------------------------------------
// One TCP connection: frames incoming messages, queues outgoing bytes. Owned by a Link through a
// shared_ptr so that completion handlers outlive a Link torn down mid-operation.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using OnMessage = std::function<bool(std::span<const uint8_t> msg)>;  // false: stop reading
  using OnError = std::function<void(const std::string& why)>;

  explicit Connection(tcp::socket s)
      : sock_(std::move(s)), close_timer_(sock_.get_executor()), stall_timer_(sock_.get_executor()) {}

  void start(OnMessage on_msg, OnError on_err) {
    on_msg_ = std::move(on_msg);
    on_err_ = std::move(on_err);
    buf_.resize(kReadChunk * 2);
    read();
  }
  void set_max_length(size_t n) { max_len_ = n; }
  // Called after a write, while fewer than `below` bytes are queued: the owner generates more.
  void set_on_drain(size_t below, std::function<void()> f) {
    drain_below_ = below;
    on_drain_ = std::move(f);
  }
  // Bytes queued and none taken by the kernel for this long: the peer reads nothing (its receive
  // window and our socket buffer are full). Reported through OnError; 0 turns it off.
  void set_stall_timeout(std::chrono::seconds t) { stall_timeout_ = t; }
  void send(std::vector<uint8_t> bytes) {
    if (closed_ || bytes.empty()) return;
    queued_ += bytes.size();
    out_.push_back(std::move(bytes));
    if (!writing_) {
      progress_ = std::chrono::steady_clock::now();
      write();
    }
  }
  // Lets queued bytes (a NOTIFICATION, withdraws) reach the peer, then closes; bounded.
  void close_after_flush(std::chrono::milliseconds deadline = 2000ms) {
    if (closed_) return;
    stop_reading_ = true;
    detach();
    if (out_.empty()) return close_now();
    flush_then_close_ = true;
    close_timer_.expires_after(deadline);
    close_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->close_now();
    });
  }
  void close_now() {
    if (closed_) return;
    closed_ = true;
    detach();
    error_code ec;
    sock_.shutdown(tcp::socket::shutdown_both, ec);
    sock_.close(ec);
    close_timer_.cancel();
    stall_timer_.cancel();
    out_.clear();
    queued_ = 0;
  }
  // No more callbacks into the owner.
  void detach() {
    on_msg_ = nullptr;
    on_err_ = nullptr;
    on_drain_ = nullptr;
  }
  bool idle() const { return out_.empty(); }
  tcp::socket& socket() { return sock_; }
  // Written by the owner, not yet taken by the kernel.
  size_t queued_bytes() const { return queued_; }

 private:
  // Big reads keep up with a full-table sender: fewer wake-ups per megabyte of UPDATEs.
  static constexpr size_t kReadChunk = 256 * 1024;

  void read() {
    if (closed_ || stop_reading_) return;
    if (buf_.size() - have_ < kReadChunk) buf_.resize(have_ + kReadChunk);
    sock_.async_read_some(asio::buffer(buf_.data() + have_, buf_.size() - have_),
                          [self = shared_from_this()](error_code ec, size_t n) { self->on_read(ec, n); });
  }

  void on_read(error_code ec, size_t n) {
    if (closed_ || stop_reading_) return;
    if (ec) return fail(ec == asio::error::eof ? "connection closed by peer" : ec.message());
    have_ += n;
    size_t off = 0;
    while (!closed_ && !stop_reading_) {
      auto f = wire::frame_message(std::span<const uint8_t>(buf_.data() + off, have_ - off), max_len_);
      if (!f) {
        // Header errors are answered by the owner (BGPHeaderErr); hand it the raw bytes.
        pending_header_error_ = f.error();
        if (on_msg_) on_msg_({});
        return;
      }
      if (!f->complete) break;
      auto msg = std::span<const uint8_t>(buf_.data() + off, f->length);
      off += f->length;
      if (!on_msg_ || !on_msg_(msg)) return;
    }
    if (off) {
      std::memmove(buf_.data(), buf_.data() + off, have_ - off);
      have_ -= off;
    }
    // Don't hold a 65 KiB buffer per idle session forever.
    if (have_ == 0 && buf_.size() > kReadChunk * 4) {
      buf_.resize(kReadChunk * 2);
      buf_.shrink_to_fit();
    }
    read();
  }

  // One write_some at a time, so that every byte the kernel takes counts as progress.
  void write() {
    writing_ = true;
    arm_stall_timer();
    auto& front = out_.front();
    sock_.async_write_some(asio::buffer(front.data() + offset_, front.size() - offset_),
                           [self = shared_from_this()](error_code ec, size_t n) { self->on_write(ec, n); });
  }

  void on_write(error_code ec, size_t n) {
    writing_ = false;
    if (closed_) return;
    if (ec) return fail("write: " + ec.message());
    progress_ = std::chrono::steady_clock::now();
    offset_ += n;
    queued_ -= n;
    if (offset_ == out_.front().size()) {
      out_.pop_front();
      offset_ = 0;
    }
    if (!out_.empty())
      write();
    else if (flush_then_close_)
      return close_now();
    if (on_drain_ && queued_ < drain_below_) on_drain_();
  }

  void arm_stall_timer() {
    if (stall_armed_ || stall_timeout_.count() == 0) return;
    stall_armed_ = true;
    stall_timer_.expires_at(progress_ + stall_timeout_);
    stall_timer_.async_wait([self = shared_from_this()](error_code ec) {
      self->stall_armed_ = false;
      if (ec || self->closed_ || self->out_.empty()) return;
      if (std::chrono::steady_clock::now() - self->progress_ < self->stall_timeout_) return self->arm_stall_timer();
      self->fail("send stalled: the peer took no data for " + std::to_string(self->stall_timeout_.count()) +
                 " s with " + std::to_string(self->queued_) + " bytes queued");
    });
  }

  void fail(const std::string& why) {
    auto cb = on_err_;
    close_now();
    if (cb) cb(why);
  }

 public:
  std::optional<wire::Notification> pending_header_error_;

 private:
  tcp::socket sock_;
  asio::steady_timer close_timer_, stall_timer_;
  std::vector<uint8_t> buf_;
  size_t have_ = 0;
  size_t max_len_ = wire::kMaxMessageLength;
  std::deque<std::vector<uint8_t>> out_;
  size_t offset_ = 0;  // into out_.front(): what the kernel has taken of it
  size_t queued_ = 0;
  size_t drain_below_ = 0;
  std::chrono::steady_clock::time_point progress_{};
  std::chrono::seconds stall_timeout_{0};
  OnMessage on_msg_;
  OnError on_err_;
  std::function<void()> on_drain_;
  bool closed_ = false, stop_reading_ = false, flush_then_close_ = false, writing_ = false, stall_armed_ = false;
};

// ---------------------------------------------------------------------------------------------
// Shared, so that an accept completed just before close() finds the listener still there; it then
// sees closed_ and touches neither the socket nor the speaker (which may be gone).
class Speaker::Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& io, Speaker& sp, IpAddress local) : acc_(io), retry_(io), sp_(sp), local_(local) {}

  std::string open(uint16_t port, const std::vector<std::pair<IpAddress, std::string>>& md5) {
    port_ = port;
    error_code ec;
    auto ep = endpoint(local_, port);
    acc_.open(ep.protocol(), ec);
    if (!ec) acc_.set_option(tcp::acceptor::reuse_address(true), ec);
    // Accepted sockets inherit it, before the handshake fixes the window scale.
    if (!ec) acc_.set_option(asio::socket_base::receive_buffer_size(4 << 20), ec);
    if (!ec && local_.is_v6()) acc_.set_option(asio::ip::v6_only(true), ec);
    // The keys go on the listener before bind: a peer's SYN is checked against them.
    for (auto& [peer, key] : md5) {
      if (ec) break;
      if (peer.family == local_.family) ec = set_md5(acc_.native_handle(), peer, key);
    }
    if (!ec) acc_.bind(ep, ec);
    if (!ec) acc_.listen(64, ec);
    if (ec)
      return "listen on " + local_.str() + " port " + std::to_string(port) + ": " + ec.message() +
             (port < 1024 ? missing_capability_hint(ec.value(), {CAP_NET_BIND_SERVICE}) : "");
    accept();
    return {};
  }
  // An empty key removes the peer's key (TCP_MD5SIG with key length 0): its unsigned SYNs are
  // then accepted by the kernel, and the speaker checks who it is.
  void set_key(const IpAddress& peer, const std::string& key) {
    if (peer.family != local_.family || !acc_.is_open()) return;
    auto ec = set_md5(acc_.native_handle(), peer, key);
    // ENOENT: there was no key to remove.
    if (ec && !(key.empty() && ec.value() == ENOENT))
      spdlog::error("bgp: TCP MD5 key for {} on the listener {}: {}", peer.str(), local_.str(), ec.message());
  }
  void close() {
    closed_ = true;
    error_code ec;
    acc_.close(ec);
    retry_.cancel();
  }
  const IpAddress& local() const { return local_; }
  uint16_t port() const { return port_; }

 private:
  void accept() {
    acc_.async_accept([self = shared_from_this()](error_code ec, tcp::socket s) { self->on_accept(ec, std::move(s)); });
  }
  void on_accept(error_code ec, tcp::socket s) {
    if (closed_ || ec == asio::error::operation_aborted) return;
    if (!ec) {
      sp_.accept(local_, std::move(s));
      return accept();
    }
    // The connection that failed (EMFILE, ENFILE, ENOBUFS) is still queued, so an immediate
    // retry fails the same way and spins a core; wait for descriptors to be freed instead.
    ++sp_.accept_errors_;
    spdlog::warn("bgp: accept on {}: {}; retrying in {} ms", local_.str(), ec.message(), kAcceptRetry.count());
    retry_.expires_after(kAcceptRetry);
    retry_.async_wait([self = shared_from_this()](error_code e) {
      if (!e && !self->closed_) self->accept();
    });
  }
  tcp::acceptor acc_;
  asio::steady_timer retry_;
  Speaker& sp_;
  IpAddress local_;
  uint16_t port_ = 0;
  bool closed_ = false;
};

// ---------------------------------------------------------------------------------------------
// A neighbour. Holds up to two Links (connection + FSM): the main one and, during a connection
// collision (RFC 4271 6.8), the peer's incoming one until one of them wins.
class Speaker::Peer {
 public:
  struct Link {
    Fsm fsm;
    std::shared_ptr<Connection> conn;
    std::array<std::unique_ptr<asio::steady_timer>, kTimerCount> timers;
    std::optional<wire::OpenMessage> peer_open;
    Initiator initiator = Initiator::Local;
    std::optional<tcp::socket> connecting;
    explicit Link(FsmConfig c) : fsm(std::move(c)) {}
  };

  Peer(Speaker& sp, NeighborConfig cfg) : sp_(sp), cfg_(std::move(cfg)), restart_timer_(sp.io_), stale_timer_(sp.io_) {}
  ~Peer() { teardown(); }

  const NeighborConfig& cfg() const { return cfg_; }

  void start() {
    main_ = make_link();
    if (cfg_.shutdown) {
      main_->fsm.handle(Event::ManualStop, AdminStop{AdminStop::Kind::Shutdown, {}});
      return;
    }
    if (held()) return;  // bfd_up() starts it
    run(*main_, main_->fsm.handle(cfg_.passive ? Event::ManualStart_with_PassiveTcpEstablishment : Event::ManualStart));
  }

  // An incoming TCP connection from this neighbour.
  void incoming(tcp::socket s) {
    if (sp_.shutting_down_ || !main_ || main_->fsm.admin_down()) {
      spdlog::info("bgp {}: refusing connection: administratively down", cfg_.name);
      return;
    }
    if (held()) {
      spdlog::debug("bgp {}: refusing connection: BFD is down", cfg_.name);
      return;
    }
    configure_socket(s);
    State st = main_->fsm.state();
    if (st == State::Idle || st == State::Connect || st == State::Active) {
      // Nothing established yet: adopt the peer's connection (and give up our own attempt).
      if (main_->connecting) {
        error_code ec;
        main_->connecting->close(ec);
        main_->connecting.reset();
      }
      if (st == State::Idle) {
        // Between automatic restarts: take the peer's call only if the backoff allows a start
        // now, so a router that keeps calling cannot defeat the damping.
        run(*main_, main_->fsm.handle(Event::AutomaticStart_with_PassiveTcpEstablishment));
        if (main_->fsm.state() == State::Idle && only_connects_failed_) {
          // The backoff damps sessions that flap; ours never got past TCP (the router was not
          // listening yet). Now it calls us: take the call.
          run(*main_, main_->fsm.handle(Event::ManualStart_with_PassiveTcpEstablishment));
        }
        if (main_->fsm.state() == State::Idle) {
          spdlog::info("bgp {}: refusing connection: damped after its error, for {} more second(s)", cfg_.name,
                       std::chrono::ceil<std::chrono::seconds>(main_->timers[size_t(Timer::IdleHold)]->expiry() -
                                                               std::chrono::steady_clock::now())
                           .count());
          return;
        }
      }
      attach(*main_, std::move(s), Initiator::Remote);
      run(*main_, main_->fsm.handle(Event::TcpConnectionConfirmed));
      return;
    }
    if (st == State::Established || pending_) {
      // RFC 4271 6.8: a collision with an Established session closes the new connection.
      auto c = std::make_shared<Connection>(std::move(s));
      c->send(wire::encode_notification(
          wire::Notification::make(wire::ErrorCode::cease, wire::CeaseSubcode::connection_collision_resolution)));
      c->close_after_flush();
      return;
    }
    pending_ = make_link();
    pending_->fsm.handle(Event::ManualStart_with_PassiveTcpEstablishment);
    attach(*pending_, std::move(s), Initiator::Remote);
    run(*pending_, pending_->fsm.handle(Event::TcpConnectionConfirmed));
  }

  void set_exports_changed() {
    if (established()) sync();
  }
  void exports_ready() {
    if (established()) sync();
  }

  bool established() const { return main_ && main_->fsm.state() == State::Established; }

  void shutdown(const std::string& msg, bool reset) {
    if (!main_) return;
    if (pending_) drop_link(pending_);
    if (established() && !adj_out_.empty()) {
      // Explicit withdraws first: a router that does not honour the NOTIFICATION promptly still
      // takes the routes away at once.
      withdraw_all();
    }
    run(*main_, main_->fsm.handle(Event::ManualStop,
                                  AdminStop{reset ? AdminStop::Kind::Reset : AdminStop::Kind::Shutdown, msg}));
  }
  void enable() {
    if (!main_) return start();
    if (main_->fsm.state() != State::Idle) return;
    if (held()) {
      // Clear the operator's stop, but wait for BFD: bfd_up() starts the session.
      main_->fsm.clear_admin_down();
      return;
    }
    run(*main_, main_->fsm.handle(cfg_.passive ? Event::ManualStart_with_PassiveTcpEstablishment : Event::ManualStart));
  }
  bool bfd_held() const {
    auto it = sp_.bfd_held_.find(cfg_.name);
    return it != sp_.bfd_held_.end() && it->second;
  }
  // Idle until BFD is up, or until an unnumbered neighbour's address is known.
  bool held() const { return bfd_held() || !remote(); }
  // Where the router is: configured, or learned from its router advertisements.
  std::optional<IpAddress> remote() const {
    if (!cfg_.learn_address) return cfg_.address;
    auto it = sp_.learned_.find(cfg_.name);
    if (it == sp_.learned_.end()) return std::nullopt;
    return it->second;
  }
  // RFC 5882 §4.3: the forwarding path is gone, so the session goes now, not at the hold time.
  void bfd_down() {
    if (!main_ || main_->fsm.state() == State::Idle) return;
    if (pending_) drop_link(pending_);
    spdlog::warn("bgp {}: BFD down: closing the session", cfg_.name);
    run(*main_, main_->fsm.handle(
                    Event::AutomaticStop,
                    NotificationInfo{uint8_t(wire::ErrorCode::cease), uint8_t(wire::CeaseSubcode::bfd_down), {}}));
  }
  void bfd_up() {
    if (!main_ || main_->fsm.admin_down() || main_->fsm.state() != State::Idle || held()) return;
    run(*main_, main_->fsm.handle(cfg_.passive ? Event::ManualStart_with_PassiveTcpEstablishment : Event::ManualStart));
  }
  // Closing for good (removed from config, or the daemon stops): Cease with the given subcode.
  void close(wire::CeaseSubcode sub, const std::string& msg) {
    if (established() && !adj_out_.empty()) withdraw_all();
    if (main_ && main_->conn &&
        (main_->fsm.state() == State::OpenSent || main_->fsm.state() == State::OpenConfirm ||
         main_->fsm.state() == State::Established)) {
      main_->conn->send(wire::encode_notification(wire::make_shutdown(sub, msg)));
    }
    teardown();
  }
  // True while something is still queued for the peer.
  bool flushing() const {
    for (auto& c : closing_)
      if (!c->idle()) return true;
    return false;
  }

  NeighborStatus status() const {
    NeighborStatus s;
    s.name = cfg_.name;
    s.description = cfg_.description;
    s.address = remote().value_or(cfg_.address);
    s.interface = cfg_.interface;
    s.address_known = remote().has_value();
    s.extended_next_hop_sent = neg_ && ectx_.ipv4_over_ipv6;
    s.extended_next_hop_received = neg_ && dctx_.ipv4_over_ipv6;
    s.remote_asn = cfg_.remote_asn;
    if (main_) {
      s.state = main_->fsm.state();
      s.admin_down = main_->fsm.admin_down();
      s.since = main_->fsm.counters().last_state_change;
      s.transitions = main_->fsm.counters().transitions + transitions_before_;
      s.established_count = main_->fsm.counters().established + established_before_;
    }
    s.prefixes_sent = adj_out_.size();
    s.prefixes_received = received_;
    s.prefixes_filtered = filtered_;
    s.prefixes_discarded = discarded_;
    s.send_queue_bytes = main_ && main_->conn ? main_->conn->queued_bytes() : 0;
    s.refreshes_merged = refreshes_merged_;
    s.updates_sent = updates_sent_;
    s.updates_received = updates_received_;
    s.messages_sent = messages_sent_;
    s.messages_received = messages_received_;
    s.last_error = last_error_;
    s.last_notification = last_notification_;
    s.last_notification_sent = last_notification_sent_;
    bool v4 = neg_ ? neg_->families.ipv4_unicast : cfg_.ipv4_unicast;
    bool v6 = neg_ ? neg_->families.ipv6_unicast : cfg_.ipv6_unicast;
    if (v4) s.families.push_back("ipv4-unicast");
    if (v6) s.families.push_back("ipv6-unicast");
    if (neg_) {
      s.hold_time = neg_->hold_time;
      s.graceful_restart = cfg_.graceful_restart && neg_->peer_graceful_restart.has_value();
    }
    s.stale_routes = stale_;
    if (main_ && main_->fsm.damped()) s.damped_until = main_->timers[size_t(Timer::IdleHold)]->expiry();
    return s;
  }

  // An edit that the running session can take (classify_neighbor_change said kInPlace): the
  // session, its Adj-RIB-Out and what the router installed stay as they are.
  void reconfigure(NeighborConfig next, const std::vector<std::string>& fields) {
    const NeighborConfig before = std::exchange(cfg_, std::move(next));
    auto changed = [&](std::string_view f) { return std::ranges::find(fields, f) != fields.end(); };
    if (changed("connect_retry"))
      for (Link* l : {main_.get(), pending_.get()})
        if (l) l->fsm.set_connect_retry(cfg_.connect_retry);
    if (changed("ttl") || changed("min_ttl"))
      for (Link* l : {main_.get(), pending_.get()})
        if (l && l->conn) configure_socket(l->conn->socket());
    if (changed("import_prefix") || changed("max_prefixes") || changed("keep_received_routes"))
      reevaluate_adj_in(before);
    if (changed("next_hop") || changed("next_hop6")) {
      // New attribute sets: the sync walk sends the routes whose next hop moved, nothing else.
      attr_cache_.clear();
      nh_warned_.clear();
      sync();
    }
    if (changed("shutdown")) {
      if (cfg_.shutdown)
        shutdown({}, false);
      else
        enable();
    }
  }

  std::vector<ReceivedRoute> routes(size_t limit) const {
    std::vector<std::pair<Prefix, uint32_t>> all;
    all.reserve(received_);
    in4_.for_each([&](uint32_t a, uint8_t l, uint32_t v) { all.emplace_back(Prefix{IpAddress::v4(a), l}, v); });
    in6_.for_each([&](const V6Table::Key& k, uint32_t v) { all.emplace_back(prefix6(k), v); });
    size_t n = std::min(limit, all.size());
    std::partial_sort(all.begin(), all.begin() + n, all.end(), [](auto& a, auto& b) { return a.first < b.first; });
    std::vector<ReceivedRoute> out;
    for (size_t i = 0; i < n; ++i) {
      auto [p, v] = all[i];
      ReceivedRoute r{p, {}, (v & kStale) != 0};
      if (uint32_t id = v & kIdMask; id != AttrStore::kNone) r.attributes = describe_raw(attrs_.get(id));
      out.push_back(std::move(r));
    }
    return out;
  }

 private:
  std::string describe_raw(std::span<const uint8_t> raw) const {
    // Decode the stored attributes through the codec: an UPDATE body with no routes.
    std::vector<uint8_t> body{0, 0, uint8_t(raw.size() >> 8), uint8_t(raw.size())};
    body.insert(body.end(), raw.begin(), raw.end());
    auto u = wire::decode_update(body, dctx_);
    if (!u) return "(undecodable)";
    return describe_attrs(u->attrs);
  }

  std::unique_ptr<Link> make_link() {
    auto l = std::make_unique<Link>(bgp::fsm_config(cfg_));
    for (auto& t : l->timers) t = std::make_unique<asio::steady_timer>(sp_.io_);
    l->fsm.set_clock([] { return std::chrono::steady_clock::now(); });
    l->fsm.set_transition_hook([this](State from, State to, Event cause) {
      spdlog::info("bgp {}: {} -> {} ({})", cfg_.name, to_string(from), to_string(to), to_string(cause));
      if (to == State::OpenSent || to == State::OpenConfirm || to == State::Established) only_connects_failed_ = false;
      if (to == State::Idle && (from == State::Connect || from == State::Active) && cause == Event::TcpConnectionFails)
        only_connects_failed_ = true;
    });
    return l;
  }

  void configure_socket(tcp::socket& s) {
    int fd = s.native_handle();
    bool v6 = cfg_.learn_address || cfg_.address.is_v6();
    if (auto ec = set_ttl(fd, v6, cfg_.ttl)) spdlog::warn("bgp {}: TTL {}: {}", cfg_.name, cfg_.ttl, ec.message());
    if (cfg_.min_ttl)
      if (auto ec = set_min_ttl(fd, v6, cfg_.min_ttl)) spdlog::warn("bgp {}: GTSM: {}", cfg_.name, ec.message());
    error_code ec;
    s.set_option(tcp::no_delay(true), ec);
    // A full table arrives as one long burst: a roomy receive buffer keeps the sender writing
    // while this thread is busy with the previous chunk.
    s.set_option(asio::socket_base::receive_buffer_size(4 << 20), ec);
  }

  void attach(Link& l, tcp::socket s, Initiator who) {
    l.initiator = who;
    l.conn = std::make_shared<Connection>(std::move(s));
    Link* lp = &l;
    l.conn->start([this, lp](std::span<const uint8_t> msg) { return on_message(*lp, msg); },
                  [this, lp](const std::string& why) {
                    last_error_ = why;
                    spdlog::info("bgp {}: {}", cfg_.name, why);
                    run(*lp, lp->fsm.handle(Event::TcpConnectionFails));
                  });
  }

  void connect(Link& l) {
    const std::optional<IpAddress> to = remote();
    unsigned scope = 0;
    error_code ec;
    if (!cfg_.interface.empty()) {
      // The link-local address means something only on its link: the scope names the link.
      scope = ::if_nametoindex(cfg_.interface.c_str());
      if (scope == 0) ec = error_code(errno, boost::system::system_category());
    }
    const auto ep = endpoint(to.value_or(cfg_.address), cfg_.port, scope);
    l.connecting.emplace(sp_.io_);
    tcp::socket& s = *l.connecting;
    if (!to) ec = asio::error::host_not_found;  // held() keeps us here only in a race with a reset
    if (!ec) s.open(ep.protocol(), ec);
    if (!ec && !cfg_.md5_key.empty()) ec = set_md5(s.native_handle(), *to, cfg_.md5_key);
    if (!ec && cfg_.local_address) {
      s.set_option(tcp::socket::reuse_address(true), ec);
      if (!ec) s.bind(endpoint(*cfg_.local_address, 0), ec);
    }
    if (ec) {
      last_error_ = "connect: " + ec.message();
      l.connecting.reset();
      // Report asynchronously: the FSM is in the middle of handling the event that asked for it.
      asio::post(sp_.io_, [this, lp = &l, alive = alive_] {
        if (*alive && lp == main_.get()) run(*lp, lp->fsm.handle(Event::TcpConnectionFails));
      });
      return;
    }
    configure_socket(s);
    Link* lp = &l;
    s.async_connect(ep, [this, lp, alive = alive_](error_code ec) {
      if (!*alive || lp != main_.get() || !lp->connecting) return;
      if (ec == asio::error::operation_aborted) return;
      if (ec) {
        last_error_ = "connect: " + ec.message();
        lp->connecting.reset();
        run(*lp, lp->fsm.handle(Event::TcpConnectionFails));
        return;
      }
      tcp::socket sock = std::move(*lp->connecting);
      lp->connecting.reset();
      attach(*lp, std::move(sock), Initiator::Local);
      run(*lp, lp->fsm.handle(Event::Tcp_CR_Acked));
    });
  }

  wire::OpenMessage local_open() const {
    wire::Capabilities caps;
    if (cfg_.ipv4_unicast) caps.multiprotocol.push_back(wire::kIpv4Unicast);
    if (cfg_.ipv6_unicast) caps.multiprotocol.push_back(wire::kIpv6Unicast);
    if (cfg_.extended_next_hop && cfg_.ipv4_unicast) caps.extended_next_hop.push_back(wire::kIpv4OverIpv6);
    caps.route_refresh = true;
    caps.enhanced_route_refresh = true;
    caps.extended_message = cfg_.extended_messages;
    if (cfg_.graceful_restart) {
      wire::GracefulRestart gr;
      gr.flags = sp_.options_.restarting ? wire::GracefulRestart::kRestartState : 0;
      gr.restart_time = cfg_.restart_time;
      // The forwarding state an anycast announcer keeps across a restart is the service
      // itself, which runs on without vaned: say it is preserved so the router keeps our routes.
      if (cfg_.ipv4_unicast) gr.families.push_back({wire::kIpv4Unicast, wire::GracefulRestart::kForwardingPreserved});
      if (cfg_.ipv6_unicast) gr.families.push_back({wire::kIpv6Unicast, wire::GracefulRestart::kForwardingPreserved});
      caps.graceful_restart = gr;
    }
    uint16_t hold = uint16_t(std::min<int64_t>(cfg_.hold_time.count(), 65535));
    return wire::OpenMessage::make(cfg_.local_asn, hold, cfg_.router_id, std::move(caps));
  }

  // Carries out the FSM's actions in order.
  void run(Link& l, const Actions& actions) {
    Link* lp = &l;
    for (const Action& a : actions) {
      if (lp != main_.get() && lp != pending_.get()) return;  // the link went away
      std::visit([&](const auto& act) { exec(*lp, act); }, a);
    }
    // A link that fell to Idle while another one lives is finished.
    if (lp == pending_.get() && lp->fsm.state() == State::Idle) drop_link(pending_);
  }

  void exec(Link& l, const Connect&) { connect(l); }
  void exec(Link& l, const DropConnection&) {
    if (l.connecting) {
      error_code ec;
      l.connecting->close(ec);
      l.connecting.reset();
    }
    if (l.conn) {
      l.conn->close_after_flush();
      closing_.push_back(l.conn);
      l.conn.reset();
    }
    gc_closing();
  }
  void exec(Link& l, const SendOpen&) { send(l, wire::encode_open(local_open())); }
  void exec(Link& l, const SendKeepalive&) { send(l, wire::encode_keepalive()); }
  void exec(Link& l, const SendNotification& n) {
    wire::Notification w{n.code, n.subcode, n.data};
    last_notification_ = NotificationInfo{n.code, n.subcode, n.data};
    last_notification_sent_ = true;
    last_error_ = "sent " + describe_notification(w);
    spdlog::warn("bgp {}: sending NOTIFICATION {}", cfg_.name, describe_notification(w));
    send(l, wire::encode_notification(w));
  }
  void exec(Link& l, const StartTimer& t) {
    auto& timer = *l.timers[size_t(t.timer)];
    timer.expires_after(t.duration);
    Link* lp = &l;
    Timer kind = t.timer;
    timer.async_wait([this, lp, kind, alive = alive_](error_code ec) {
      if (ec || !*alive) return;
      if (lp != main_.get() && lp != pending_.get()) return;
      if (kind == Timer::IdleHold && held()) return;  // bfd_up() restarts it
      run(*lp, lp->fsm.handle(expiry_event(kind)));
    });
  }
  void exec(Link& l, const StopTimer& t) { l.timers[size_t(t.timer)]->cancel(); }
  void exec(Link& l, const SessionEstablished& e) {
    if (&l == pending_.get()) {
      // The peer's connection won: it becomes the session.
      if (main_) {
        transitions_before_ += main_->fsm.counters().transitions;
        established_before_ += main_->fsm.counters().established;
        teardown_link(*main_);
      }
      main_ = std::move(pending_);
    }
    neg_ = wire::negotiate(local_open(), *l.peer_open);
    bool ebgp = cfg_.local_asn != cfg_.remote_asn;
    dctx_ = neg_->decode_context(ebgp);
    ectx_ = neg_->encode_context(ebgp);
    // RFC 8950 goes out only where the router takes it and this neighbour is meant to use it.
    ectx_.ipv4_over_ipv6 = ectx_.ipv4_over_ipv6 && cfg_.extended_next_hop;
    l.conn->set_max_length(dctx_.max_message_length());
    spdlog::info("bgp {}: established with AS{} id {} hold {}s families{}{}{}", cfg_.name, e.peer_asn,
                 IpAddress::v4(e.peer_bgp_id).str(), e.hold_time.count(), neg_->families.ipv4_unicast ? " ipv4" : "",
                 neg_->families.ipv6_unicast ? " ipv6" : "", neg_->peer_graceful_restart ? " graceful-restart" : "");
    eor_sent_v4_ = eor_sent_v6_ = false;
    adj_out_.clear();
    // Attribute sets depend on what this session negotiated (RFC 8950 next hops): none carry over
    // from the last one, nor does its "no next hop" verdict.
    attr_cache_.clear();
    nh_warned_.clear();
    refresh_[0] = refresh_[1] = {};
    // A peer that takes nothing for a hold time is as dead as one that sends nothing for that
    // long (RFC 4271's hold timer only watches what arrives). With hold time 0 (no keepalives)
    // RFC 4271's "large value", 4 minutes, bounds the wait.
    l.conn->set_stall_timeout(e.hold_time.count() ? e.hold_time : std::chrono::seconds(240));
    l.conn->set_on_drain(Speaker::kSendQueueHigh, [this, lp = &l] {
      if (lp == main_.get()) pump();
    });
    // Routes kept from before a peer restart stay until its End-of-RIB (RFC 4724 helper).
    resume_after_restart();
    sync();
  }
  void exec(Link&, const SessionDown& d) {
    spdlog::info("bgp {}: session down: {}", cfg_.name, to_string(d.reason));
    if (d.notification && !last_notification_sent_) {
      last_notification_ = d.notification;
    }
    adj_out_.clear();
    sync_pending_ = false;
    sync_from_.reset();
    refresh_[0] = refresh_[1] = {};
    bool keep_stale = cfg_.graceful_restart && neg_ && neg_->peer_graceful_restart &&
                      (d.reason == DownReason::ConnectionLost || d.reason == DownReason::HoldTimerExpired);
    if (keep_stale) {
      mark_stale(std::chrono::seconds(std::max<int>(1, neg_->peer_graceful_restart->restart_time)));
    } else {
      clear_adj_in();
    }
    neg_.reset();
  }
  void exec(Link& l, const ProcessUpdate&) {
    if (pending_update_) apply_update(l, *pending_update_, pending_body_);
  }
  void exec(Link&, const ReleaseResources&) {}

  void send(Link& l, std::vector<uint8_t> bytes) {
    if (!l.conn) return;
    ++messages_sent_;
    l.conn->send(std::move(bytes));
  }

  bool on_message(Link& l, std::span<const uint8_t> msg) {
    Link* lp = &l;
    if (msg.empty()) {  // framing error
      auto n = *l.conn->pending_header_error_;
      last_error_ = "received a bad message header: " + wire::describe(n);
      run(l, l.fsm.handle(Event::BGPHeaderErr, NotificationInfo{n.code, n.subcode, n.data}));
      return false;
    }
    ++messages_received_;
    auto type = wire::MessageType(msg[18]);
    wire::DecodeContext ctx = dctx_;
    if (type != wire::MessageType::update) {
      // Only the size matters outside UPDATE: up to what this connection negotiated (RFC 8654
      // lets NOTIFICATION and ROUTE-REFRESH grow too; the codec still holds OPEN and KEEPALIVE).
      ctx = wire::DecodeContext{};
      ctx.extended_message = lp == main_.get() && established() && dctx_.extended_message;
    }
    auto m = wire::decode_message(msg, ctx);
    if (!m) {
      const auto& n = m.error();
      last_error_ = "received a malformed message: " + wire::describe(n);
      spdlog::warn("bgp {}: malformed {}: {} ({})", cfg_.name, int(type), wire::describe(n),
                   wire::to_hex(msg.first(std::min<size_t>(msg.size(), 64))));
      Event ev = type == wire::MessageType::open     ? Event::BGPOpenMsgErr
                 : type == wire::MessageType::update ? Event::UpdateMsgErr
                                                     : Event::BGPHeaderErr;
      run(l, l.fsm.handle(ev, NotificationInfo{n.code, n.subcode, n.data}));
      return false;
    }
    if (auto* o = std::get_if<wire::OpenMessage>(&*m)) {
      l.peer_open = *o;
      PeerOpen po{o->version, o->asn(), o->hold_time, o->bgp_id, o->caps.four_byte_as.has_value()};
      run(l, l.fsm.handle(Event::BGPOpen, po));
      if (lp == main_.get() || lp == pending_.get()) resolve_collision_if_any(*lp);
    } else if (std::holds_alternative<wire::Keepalive>(*m)) {
      run(l, l.fsm.handle(Event::KeepAliveMsg));
    } else if (auto* u = std::get_if<wire::Update>(&*m)) {
      ++updates_received_;
      pending_update_ = u;
      pending_body_ = msg.subspan(wire::kHeaderLength);
      run(l, l.fsm.handle(Event::UpdateMsg));
      pending_update_ = nullptr;
    } else if (auto* n = std::get_if<wire::Notification>(&*m)) {
      last_notification_ = NotificationInfo{n->code, n->subcode, n->data};
      last_notification_sent_ = false;
      last_error_ = "received " + describe_notification(*n);
      spdlog::warn("bgp {}: received NOTIFICATION {}", cfg_.name, describe_notification(*n));
      bool ver =
          n->code == uint8_t(wire::ErrorCode::open) && n->subcode == uint8_t(wire::OpenSubcode::unsupported_version);
      run(l,
          l.fsm.handle(ver ? Event::NotifMsgVerErr : Event::NotifMsg, NotificationInfo{n->code, n->subcode, n->data}));
      return false;
    } else if (auto* rr = std::get_if<wire::RouteRefresh>(&*m)) {
      if (lp == main_.get() && established() && rr->subtype == uint8_t(wire::RouteRefreshSubtype::request))
        refresh(rr->afi_safi);
    }
    // Stop reading on a link that was dropped while handling the message.
    return (lp == main_.get() || lp == pending_.get()) && lp->conn != nullptr;
  }

  void resolve_collision_if_any(Link& l) {
    if (!pending_ || !main_) return;
    Link& other = (&l == main_.get()) ? *pending_ : *main_;
    if (l.fsm.state() != State::OpenConfirm) return;
    auto r = resolve_collision(cfg_.router_id, l.peer_open ? l.peer_open->bgp_id : 0, other.fsm.state(),
                               other.initiator, cfg_.local_asn, cfg_.remote_asn);
    if (r == CollisionResult::NoCollision) return;
    Link* loser = r == CollisionResult::KeepExisting ? &l : &other;
    spdlog::info("bgp {}: connection collision: keeping the connection {} by {}", cfg_.name,
                 r == CollisionResult::KeepExisting ? "already open" : "just opened",
                 (loser == &l ? other : l).initiator == Initiator::Local ? "us" : "the peer");
    if (loser == pending_.get()) {
      run(*pending_, pending_->fsm.handle(Event::OpenCollisionDump));
      if (pending_) drop_link(pending_);
    } else {
      // The main link loses: the pending one takes its place.
      auto old = std::move(main_);
      main_ = std::move(pending_);
      old->fsm.handle(Event::OpenCollisionDump);
      if (old->conn) {
        old->conn->send(wire::encode_notification(
            wire::Notification::make(wire::ErrorCode::cease, wire::CeaseSubcode::connection_collision_resolution)));
      }
      teardown_link(*old);
    }
  }

  void drop_link(std::unique_ptr<Link>& l) {
    if (!l) return;
    teardown_link(*l);
    l.reset();
  }

  void teardown_link(Link& l) {
    for (auto& t : l.timers) t->cancel();
    if (l.connecting) {
      error_code ec;
      l.connecting->close(ec);
      l.connecting.reset();
    }
    if (l.conn) {
      l.conn->close_after_flush();
      closing_.push_back(l.conn);
      l.conn.reset();
    }
  }

  void teardown() {
    *alive_ = false;
    alive_ = std::make_shared<bool>(true);
    if (pending_) drop_link(pending_);
    if (main_) drop_link(main_);
    restart_timer_.cancel();
    stale_timer_.cancel();
  }

  void gc_closing() {
    std::erase_if(closing_, [](auto& c) { return c->idle(); });
  }

  // ---- Adj-RIB-In ----
  void apply_update(Link& l, const wire::Update& u, std::span<const uint8_t> body) {
    for (auto& issue : u.issues)
      spdlog::warn("bgp {}: UPDATE attribute {}: {} ({})", cfg_.name, int(issue.type), wire::to_string(issue.reason),
                   wire::to_string(issue.action));
    u.for_each_withdrawn([&](const wire::WirePrefix& p) { remove_route(p); });
    uint32_t attr = AttrStore::kNone;
    bool any = false, discarded = false;
    u.for_each_announced([&](const wire::WirePrefix& p) {
      if (!accept(p)) {
        ++filtered_;
        return;
      }
      if (received_ >= cfg_.max_routes && !held(p)) {
        ++discarded_;
        discarded = true;
        return;
      }
      if (cfg_.keep_routes && !any) {
        auto field = attrs_without_mp(attribute_field(body));
        attr = attrs_.intern(field);
      }
      any = true;
      add_route(p, attr);
    });
    if (attr != AttrStore::kNone) attrs_.unref(attr);  // add_route took its own references
    if (u.end_of_rib) end_of_rib(*u.end_of_rib);
    if (discarded && !full_warned_) {
      spdlog::warn(
          "bgp {}: holding {} routes, the most kept from one neighbour: further prefixes are "
          "discarded (max_prefixes.limit raises it)",
          cfg_.name, received_);
      full_warned_ = true;
    }
    check_max_prefixes(l, discarded);
  }

  bool held(const wire::WirePrefix& p) const { return (p.is_v4() ? in4_.get(v4(p), p.len) : in6_.get(key6(p))) != 0; }

  bool accept(const wire::WirePrefix& p) const { return cfg_.import_filter.empty() || accept(p.to_prefix()); }
  bool accept(const Prefix& p) const {
    if (cfg_.import_filter.empty()) return true;
    for (auto& f : cfg_.import_filter)
      if (f.matches(p)) return true;
    return false;
  }

  static V6Table::Key key6(const wire::WirePrefix& p) {
    V6Table::Key k;
    for (int i = 0; i < 8; ++i) {
      k.hi = k.hi << 8 | p.addr[i];
      k.lo = k.lo << 8 | p.addr[8 + i];
    }
    k.len = p.len;
    return k;
  }
  static uint32_t v4(const wire::WirePrefix& p) {
    return uint32_t(p.addr[0]) << 24 | uint32_t(p.addr[1]) << 16 | uint32_t(p.addr[2]) << 8 | p.addr[3];
  }

  void add_route(const wire::WirePrefix& p, uint32_t attr) {
    attrs_.ref(attr);
    uint32_t old = p.is_v4() ? in4_.put(v4(p), p.len, attr | kLive) : in6_.put(key6(p), attr | kLive);
    if (old == 0) {
      ++received_;
    } else {
      if (old & kStale) --stale_;
      attrs_.unref(old & kIdMask);
    }
  }
  void remove_route(const wire::WirePrefix& p) { forget(p.is_v4() ? in4_.erase(v4(p), p.len) : in6_.erase(key6(p))); }
  // Bookkeeping for a value just erased from a table (0: nothing was there).
  void forget(uint32_t old) {
    if (old == 0) return;
    --received_;
    if (old & kStale) --stale_;
    attrs_.unref(old & kIdMask);
  }
  void clear_adj_in() {
    in4_.clear();
    in6_.clear();
    attrs_ = AttrStore();
    received_ = stale_ = 0;
    full_warned_ = false;
    stale_timer_.cancel();
  }
  // GR helper (RFC 4724 4.2): keep the routes, flagged, while the peer restarts. The peer's
  // Restart Time bounds the wait for the new session; once it is up, its End-of-RIB for each
  // family (or stale_time) ends the wait for that family.
  void mark_stale(std::chrono::seconds restart_time) {
    std::vector<std::pair<uint32_t, uint8_t>> v4s;
    in4_.for_each([&](uint32_t a, uint8_t l, uint32_t) { v4s.emplace_back(a, l); });
    for (auto& [a, l] : v4s) in4_.put(a, l, in4_.get(a, l) | kStale);
    std::vector<V6Table::Key> v6s;
    in6_.for_each([&](const V6Table::Key& k, uint32_t) { v6s.push_back(k); });
    for (auto& k : v6s) in6_.put(k, in6_.get(k) | kStale);
    stale_ = received_;
    spdlog::info("bgp {}: peer restarting: keeping {} route(s) as stale; it has {}s to come back", cfg_.name, stale_,
                 restart_time.count());
    arm_stale_timer(restart_time, true, true);
  }
  void arm_stale_timer(std::chrono::seconds after, bool v4, bool v6) {
    stale_timer_.expires_after(after);
    stale_timer_.async_wait([this, v4, v6, alive = alive_](error_code ec) {
      if (!ec && *alive) sweep_stale(v4, v6);
    });
  }
  void sweep_stale(bool v4 = true, bool v6 = true) {
    if (!stale_) return;
    uint64_t before = stale_;
    if (v4) {
      std::vector<std::pair<uint32_t, uint8_t>> v4s;
      in4_.for_each([&](uint32_t a, uint8_t l, uint32_t v) {
        if (v & kStale) v4s.emplace_back(a, l);
      });
      for (auto& [a, l] : v4s) remove_route(wire::WirePrefix::v4(a, l));
    }
    if (v6) {
      std::vector<V6Table::Key> v6s;
      in6_.for_each([&](const V6Table::Key& k, uint32_t v) {
        if (v & kStale) v6s.push_back(k);
      });
      for (auto& k : v6s) forget(in6_.erase(k));
    }
    if (before != stale_)
      spdlog::info("bgp {}: {} stale route(s) removed{}", cfg_.name, before - stale_,
                   v4 && v6 ? ""
                   : v4     ? " (IPv4)"
                            : " (IPv6)");
  }
  bool has_stale(bool v4) const {
    bool any = false;
    if (v4)
      in4_.for_each([&](uint32_t, uint8_t, uint32_t v) { any |= (v & kStale) != 0; });
    else
      in6_.for_each([&](const V6Table::Key&, uint32_t v) { any |= (v & kStale) != 0; });
    return any;
  }
  void end_of_rib(wire::AfiSafi fam) {
    bool v4 = fam == wire::kIpv4Unicast;
    if (!v4 && fam != wire::kIpv6Unicast) return;
    sweep_stale(v4, !v4);
    if (!stale_) stale_timer_.cancel();
  }
  // On a new session after the peer restarted: routes of families the peer no longer preserves
  // (no capability, or no forwarding bit) go at once; the others wait for End-of-RIB.
  void resume_after_restart() {
    if (!stale_) return;
    bool keep4 = false, keep6 = false;
    if (neg_ && neg_->peer_graceful_restart)
      for (auto& f : neg_->peer_graceful_restart->families) {
        if (f.afi_safi == wire::kIpv4Unicast && f.forwarding_preserved()) keep4 = true;
        if (f.afi_safi == wire::kIpv6Unicast && f.forwarding_preserved()) keep6 = true;
      }
    if (!keep4 || !keep6) sweep_stale(!keep4, !keep6);
    if (stale_) arm_stale_timer(cfg_.stale_time, true, true);
  }

  // A changed import filter, limit or keep_received_routes applied to what is held. Prefixes are
  // held whether or not keep_received_routes is on (without it, with no attributes), so a tighter
  // filter or a lower limit needs nothing from the peer. What an earlier filter refused was never
  // stored: a looser filter, or attributes now to be kept, ask the peer to send its routes again
  // (ROUTE-REFRESH, when it negotiated it; otherwise they arrive with its next UPDATEs).
  void reevaluate_adj_in(const NeighborConfig& before) {
    uint64_t dropped = 0;
    if (cfg_.import_filter != before.import_filter && !cfg_.import_filter.empty()) {
      std::vector<std::pair<uint32_t, uint8_t>> v4s;
      in4_.for_each([&](uint32_t a, uint8_t l, uint32_t) {
        if (!accept(wire::WirePrefix::v4(a, l))) v4s.emplace_back(a, l);
      });
      for (auto& [a, l] : v4s) remove_route(wire::WirePrefix::v4(a, l));
      std::vector<V6Table::Key> v6s;
      in6_.for_each([&](const V6Table::Key& k, uint32_t) {
        if (!accept(prefix6(k))) v6s.push_back(k);
      });
      for (auto& k : v6s) forget(in6_.erase(k));
      dropped = v4s.size() + v6s.size();
      filtered_ += dropped;
    }
    if (before.keep_routes && !cfg_.keep_routes) drop_attributes();
    bool looser = loosened(before.import_filter, cfg_.import_filter);
    bool want_again =
        looser || (cfg_.keep_routes && !before.keep_routes) || (cfg_.max_routes > before.max_routes && discarded_ > 0);
    spdlog::info("bgp {}: import policy changed in place: {} route(s) no longer accepted, {} held{}", cfg_.name,
                 dropped, received_,
                 want_again && established() && neg_->route_refresh ? "; asking for a route refresh" : "");
    max_warned_ = full_warned_ = false;
    if (!established()) return;
    if (want_again && neg_->route_refresh) {
      if (neg_->families.ipv4_unicast) send(*main_, wire::encode_route_refresh({wire::kIpv4Unicast, 0}));
      if (neg_->families.ipv6_unicast) send(*main_, wire::encode_route_refresh({wire::kIpv6Unicast, 0}));
    }
    check_max_prefixes(*main_, false);
  }
  // Some prefix the old filter refused may pass the new one: any new range, or none at all.
  static bool loosened(const std::vector<PrefixFilter>& before, const std::vector<PrefixFilter>& after) {
    if (after.empty()) return !before.empty();
    if (before.empty()) return false;
    for (auto& f : after)
      if (std::ranges::find(before, f) == before.end()) return true;
    return false;
  }
  static Prefix prefix6(const V6Table::Key& k) {
    Prefix p;
    p.addr.family = IpAddress::Family::v6;
    for (int i = 0; i < 8; ++i) {
      p.addr.bytes[i] = uint8_t(k.hi >> (56 - 8 * i));
      p.addr.bytes[8 + i] = uint8_t(k.lo >> (56 - 8 * i));
    }
    p.len = k.len;
    return p;
  }
  // keep_received_routes turned off: the prefixes stay (they are counted), their attributes go.
  void drop_attributes() {
    std::vector<std::pair<uint32_t, uint8_t>> v4s;
    in4_.for_each([&](uint32_t a, uint8_t l, uint32_t) { v4s.emplace_back(a, l); });
    for (auto& [a, l] : v4s) in4_.put(a, l, in4_.get(a, l) & ~kIdMask);
    std::vector<V6Table::Key> v6s;
    in6_.for_each([&](const V6Table::Key& k, uint32_t) { v6s.push_back(k); });
    for (auto& k : v6s) in6_.put(k, in6_.get(k) & ~kIdMask);
    attrs_ = AttrStore();
  }

  // `discarded`: the last UPDATE brought prefixes beyond max_routes (>= max_prefixes), so the
  // peer sent more than the limit even though no more are held.
  void check_max_prefixes(Link& l, bool discarded) {
    if (!cfg_.max_prefixes || (received_ <= cfg_.max_prefixes && !discarded)) {
      max_warned_ = false;
      return;
    }
    if (!cfg_.max_prefixes_stop) {
      if (!max_warned_)
        spdlog::warn("bgp {}: {}{} prefixes exceed the limit of {}", cfg_.name, discarded ? "more than " : "",
                     received_, cfg_.max_prefixes);
      max_warned_ = true;
      return;
    }
    spdlog::warn("bgp {}: {}{} prefixes exceed the limit of {}: closing the session", cfg_.name,
                 discarded ? "more than " : "", received_, cfg_.max_prefixes);
    auto n = wire::make_max_prefixes(wire::kIpv4Unicast, cfg_.max_prefixes);
    run(l, l.fsm.handle(Event::AutomaticStop, NotificationInfo{n.code, n.subcode, n.data}));
    // RFC 4486: stay down until the operator (or the configured restart time) brings it back.
    if (main_) run(*main_, main_->fsm.handle(Event::ManualStop, AdminStop{AdminStop::Kind::Shutdown, {}}));
    if (cfg_.max_prefixes_restart.count() > 0) {
      restart_timer_.expires_after(cfg_.max_prefixes_restart);
      restart_timer_.async_wait([this, alive = alive_](error_code ec) {
        if (!ec && *alive) enable();
      });
    }
  }

  // ---- Adj-RIB-Out ----
  std::optional<wire::PathAttributes> attributes_for(const Prefix& p, const ExportAttrs& e) const {
    wire::PathAttributes a;
    a.origin = wire::Origin::igp;
    bool ebgp = cfg_.local_asn != cfg_.remote_asn;
    unsigned copies = (ebgp ? 1 : 0) + e.prepend;
    if (copies) a.as_path.prepend(cfg_.local_asn, copies);
    if (!ebgp) a.local_pref = 100;
    a.med = e.med;
    a.communities = e.communities;
    for (auto& l : e.large) a.large_communities.push_back({l[0], l[1], l[2]});
    for (auto x : e.extended) a.ext_communities.push_back({x});
    // IPv6 next hops: the global one, plus our link-local one when the session runs over
    // link-local addresses (RFC 2545 3), which is what a router on the link installs. With no
    // global address the link-local one fills both fields.
    auto v6_next_hops = [&] {
      std::optional<IpAddress> global = cfg_.next_hop6;
      if (!global && local_ && local_->is_v6() && !local_->is_link_local()) global = local_;
      if (local_ && local_->is_link_local()) {
        a.mp_link_local = local_;
        if (!global) global = local_;
      }
      a.mp_next_hop = global;
      return global.has_value();
    };
    if (p.addr.is_v4()) {
      if (cfg_.next_hop)
        a.next_hop = cfg_.next_hop;
      else if (local_ && local_->is_v4())
        a.next_hop = local_;
      else if (!(ectx_.ipv4_over_ipv6 && v6_next_hops()))
        return std::nullopt;  // RFC 8950
    } else {
      if (!v6_next_hops()) return std::nullopt;
    }
    a.canonicalize();
    return a;
  }

 public:
  // Brings the Adj-RIB-Out in line with the exports: the walk starts over from the first prefix
  // (parts already in line cost a comparison, no bytes) and goes on as the send queue drains.
  void sync() {
    if (!established() || !neg_) return;
    sync_pending_ = true;
    sync_from_.reset();
    pump();
  }

 private:
  using AttrPtr = std::shared_ptr<const wire::PathAttributes>;

  // What one step of a walk will send: withdrawals, and announcements grouped by attribute set
  // (first come, first encoded). Tracks a generous estimate of the encoded size so that a step
  // stops near kStepBytes whatever the attributes look like.
  struct Batch {
    explicit Batch(const wire::EncodeContext& ctx) : ctx(ctx) {}
    const wire::EncodeContext& ctx;
    std::vector<wire::WirePrefix> withdraw;
    std::vector<std::pair<AttrPtr, std::vector<wire::WirePrefix>>> announce;
    std::map<const wire::PathAttributes*, std::pair<size_t, size_t>> group;  // -> index, attribute bytes
    size_t estimate = 0, prefixes = 0;
    size_t withdraw_bytes = 0;

    static size_t nlri_bytes(const wire::WirePrefix& p) { return 1 + (p.len + 7) / 8; }
    // Per UPDATE: header, the two length fields, MP_(UN)REACH framing and next hop.
    static constexpr size_t kPerMessage = 19 + 4 + 48;
    size_t room(size_t attr_bytes) const {
      size_t max = ctx.max_message_length();
      return max > kPerMessage + attr_bytes + 256 ? max - kPerMessage - attr_bytes : 256;
    }
    void add_withdraw(const wire::WirePrefix& p) {
      size_t b = nlri_bytes(p);
      // A new message each time the previous one is full.
      if (withdraw.empty() || (withdraw_bytes % room(0)) + b > room(0)) estimate += kPerMessage;
      withdraw_bytes += b;
      estimate += b;
      withdraw.push_back(p);
      ++prefixes;
    }
    bool add_announce(const AttrPtr& a, const wire::WirePrefix& p) {
      auto it = group.find(a.get());
      if (it == group.end()) {
        std::vector<uint8_t> probe;
        auto r = wire::encode_announce(*a, std::span(&p, 1), ctx, probe);
        if (!r) return false;
        it = group.emplace(a.get(), std::make_pair(announce.size(), probe.size())).first;
        announce.emplace_back(a, std::vector<wire::WirePrefix>{});
        estimate += kPerMessage + probe.size();
      }
      auto& [index, attr_bytes] = it->second;
      auto& ps = announce[index].second;
      size_t b = nlri_bytes(p);
      if (!ps.empty() && (ps.size() * 17) % room(attr_bytes) + 17 > room(attr_bytes))
        estimate += kPerMessage + attr_bytes;  // counted as if every prefix took 17 bytes
      estimate += b;
      ps.push_back(p);
      ++prefixes;
      return true;
    }
    bool full() const { return estimate >= Speaker::kStepBytes; }
    // Appends the messages; returns how many. Prefixes that could not be encoded are returned
    // through `failed` (they were never sent).
    size_t encode(std::vector<uint8_t>& out, std::vector<wire::WirePrefix>& failed, const std::string& name) const {
      size_t msgs = 0;
      if (!withdraw.empty())
        if (auto r = wire::encode_withdraw(withdraw, ctx, out)) msgs += *r;
      for (auto& [a, ps] : announce) {
        auto r = wire::encode_announce(*a, ps, ctx, out);
        if (!r) {
          spdlog::error("bgp {}: cannot encode {} prefixes: error {}", name, ps.size(), int(r.error()));
          failed.insert(failed.end(), ps.begin(), ps.end());
          continue;
        }
        msgs += *r;
      }
      return msgs;
    }
    size_t announced() const {
      size_t n = 0;
      for (auto& [a, ps] : announce) n += ps.size();
      return n;
    }
  };

  // Generates UPDATEs while the send queue has room: first the sync walk, then the ROUTE-REFRESH
  // walks. Called when work is added and whenever the queue drains below kSendQueueHigh, so
  // that no more than kSendQueueLimit bytes are ever queued for a peer however slowly it reads.
  void pump() {
    if (!established() || !neg_ || !main_->conn || pumping_) return;
    pumping_ = true;
    bool updates = false;
    while (main_ && main_->conn && main_->conn->queued_bytes() < Speaker::kSendQueueHigh) {
      std::vector<uint8_t> out;
      size_t msgs = 0;
      if (sync_pending_) {
        msgs = sync_step(out);
      } else if (refresh_[0].active || refresh_[1].active) {
        msgs = refresh_step(refresh_[0].active ? 0 : 1, out);
      } else {
        break;
      }
      if (out.empty()) continue;
      updates_sent_ += msgs;
      messages_sent_ += msgs;
      main_->conn->send(std::move(out));
      updates = true;
    }
    pumping_ = false;
    if (updates && main_) run(*main_, main_->fsm.update_sent());
  }

  // One step of the sync walk: a merge of the exports and the Adj-RIB-Out from sync_from_ on.
  size_t sync_step(std::vector<uint8_t>& out) {
    if (!sync_from_) {
      auto local = local_endpoint();
      if (local != local_) attr_cache_.clear();  // next hops may derive from it
      local_ = local;
      std::erase_if(attr_cache_, [](auto& kv) { return kv.second && kv.second.use_count() == 1; });
    }
    bool ready = sp_.exports_ready_;
    auto e = sync_from_ ? sp_.exports_.lower_bound(*sync_from_) : sp_.exports_.begin();
    auto o = sync_from_ ? adj_out_.lower_bound(*sync_from_) : adj_out_.begin();
    Batch batch(ectx_);
    while (e != sp_.exports_.end() || o != adj_out_.end()) {
      const Prefix& k = (o == adj_out_.end() || (e != sp_.exports_.end() && e->first < o->first)) ? e->first : o->first;
      if (batch.full()) {
        sync_from_ = k;
        break;
      }
      bool in_e = e != sp_.exports_.end() && e->first == k;
      bool in_o = o != adj_out_.end() && o->first == k;
      AttrPtr a = ready && in_e ? wanted(k, e->second) : nullptr;
      bool changed = a && (!in_o || (o->second != a && *o->second != *a));
      if (changed && !batch.add_announce(a, *wire::WirePrefix::from(k))) {
        spdlog::error("bgp {}: cannot encode the attributes of {}: not announced", cfg_.name, k.str());
        a = nullptr;
      }
      if (a) {
        if (!in_o) {
          o = std::next(adj_out_.emplace_hint(o, k, a));
        } else {
          o->second = a;  // equal sets share one pointer from now on
          ++o;
        }
      } else if (in_o) {
        batch.add_withdraw(*wire::WirePrefix::from(k));
        o = adj_out_.erase(o);
      }
      if (in_e) ++e;
    }
    bool done = e == sp_.exports_.end() && o == adj_out_.end();
    std::vector<wire::WirePrefix> failed;
    size_t msgs = batch.encode(out, failed, cfg_.name);
    for (auto& p : failed) adj_out_.erase(p.to_prefix());
    sync_announced_ += batch.announced() - failed.size();
    sync_withdrawn_ += batch.withdraw.size();
    sync_msgs_ += msgs;
    if (!done) return msgs;
    sync_pending_ = false;
    sync_from_.reset();
    if (ready) {
      if (!eor_sent_v4_ && neg_->families.ipv4_unicast) {
        wire::encode_end_of_rib(wire::kIpv4Unicast, out);
        eor_sent_v4_ = true;
        ++msgs;
      }
      if (!eor_sent_v6_ && neg_->families.ipv6_unicast) {
        wire::encode_end_of_rib(wire::kIpv6Unicast, out);
        eor_sent_v6_ = true;
        ++msgs;
      }
    }
    if (sync_announced_ || sync_withdrawn_)
      spdlog::info("bgp {}: sent {} UPDATE(s): {} announced, {} withdrawn", cfg_.name, sync_msgs_, sync_announced_,
                   sync_withdrawn_);
    sync_announced_ = sync_withdrawn_ = sync_msgs_ = 0;
    return msgs;
  }

  // The attribute set to announce `p` with on this session; null when it is not to be announced.
  AttrPtr wanted(const Prefix& p, const ExportAttrs& e) {
    bool v4 = p.addr.is_v4();
    if (!(v4 ? neg_->families.ipv4_unicast : neg_->families.ipv6_unicast)) return nullptr;
    // Attribute sets are shared: one per distinct ExportAttrs and family, kept across walks so an
    // unchanged route compares by pointer and a 100,000-prefix table costs one set, not 100,000.
    auto key = std::make_pair(e, v4);
    auto c = attr_cache_.find(key);
    if (c == attr_cache_.end()) {
      auto a = attributes_for(p, e);
      c = attr_cache_.emplace(key, a ? std::make_shared<const wire::PathAttributes>(std::move(*a)) : nullptr).first;
    }
    if (!c->second && nh_warned_.insert(p).second)
      spdlog::warn("bgp {}: no next hop for {}: not announced", cfg_.name, p.str());
    return c->second;
  }

  void withdraw_all() {
    sync_pending_ = false;
    refresh_[0] = refresh_[1] = {};
    std::vector<wire::WirePrefix> w;
    for (auto& [p, a] : adj_out_) w.push_back(*wire::WirePrefix::from(p));
    std::vector<uint8_t> out;
    if (auto r = wire::encode_withdraw(w, ectx_, out); r && main_ && main_->conn) {
      updates_sent_ += *r;
      messages_sent_ += *r;
      main_->conn->send(std::move(out));
      spdlog::info("bgp {}: withdrew {} prefix(es)", cfg_.name, w.size());
    }
    adj_out_.clear();
  }

  // RFC 2918 / RFC 7313: re-send the family's Adj-RIB-Out. A request while a walk of that family
  // is under way starts it over (the peer wants everything after its request) without queueing
  // anything more: a peer that repeats ROUTE-REFRESH gets one walk, paced by its reading.
  void refresh(wire::AfiSafi fam) {
    int i = fam == wire::kIpv4Unicast ? 0 : fam == wire::kIpv6Unicast ? 1 : -1;
    if (i < 0 || !(i == 0 ? neg_->families.ipv4_unicast : neg_->families.ipv6_unicast)) {
      spdlog::info("bgp {}: route refresh for afi {} safi {} not negotiated: ignored", cfg_.name, fam.afi,
                   int(fam.safi));
      return;
    }
    auto& r = refresh_[i];
    if (r.active) ++refreshes_merged_;
    r.active = true;
    r.from.reset();
    r.sent = 0;
    pump();
  }

  size_t refresh_step(int i, std::vector<uint8_t>& out) {
    auto& r = refresh_[i];
    wire::AfiSafi fam = i == 0 ? wire::kIpv4Unicast : wire::kIpv6Unicast;
    bool enhanced = neg_->enhanced_route_refresh;
    size_t msgs = 0;
    if (enhanced && !r.begun) {
      // Once per refresh, however often it starts over: the peer marks stale at the BoRR and
      // sweeps at the EoRR, and everything is re-sent between them.
      auto b = wire::encode_route_refresh({fam, uint8_t(wire::RouteRefreshSubtype::begin)});
      out.insert(out.end(), b.begin(), b.end());
      r.begun = true;
      ++messages_sent_;
    }
    Batch batch(ectx_);
    auto it = r.from ? adj_out_.lower_bound(*r.from) : adj_out_.begin();
    for (; it != adj_out_.end(); ++it) {
      if (it->first.addr.is_v4() != (i == 0)) continue;
      if (batch.full()) break;
      batch.add_announce(it->second, *wire::WirePrefix::from(it->first));
    }
    std::vector<wire::WirePrefix> failed;
    msgs += batch.encode(out, failed, cfg_.name);
    r.sent += batch.announced();
    if (it != adj_out_.end()) {
      r.from = it->first;
      return msgs;
    }
    if (enhanced) {
      auto e = wire::encode_route_refresh({fam, uint8_t(wire::RouteRefreshSubtype::end)});
      out.insert(out.end(), e.begin(), e.end());
      ++messages_sent_;
    }
    spdlog::info("bgp {}: route refresh for afi {} safi {}: re-sent {} prefix(es)", cfg_.name, fam.afi, int(fam.safi),
                 r.sent);
    r = {};
    return msgs;
  }

  std::optional<IpAddress> local_endpoint() const {
    if (!main_ || !main_->conn) return std::nullopt;
    error_code ec;
    auto ep = main_->conn->socket().local_endpoint(ec);
    if (ec) return std::nullopt;
    return address_of(ep.address());
  }

  // Set in every stored value, so that a count-only route (attribute id kNone) is still non-zero:
  // the tables use 0 for "absent".
  static constexpr uint32_t kLive = 0x40000000u;
  static constexpr uint32_t kIdMask = ~(kStale | kLive);

  Speaker& sp_;
  NeighborConfig cfg_;
  std::unique_ptr<Link> main_, pending_;
  std::vector<std::shared_ptr<Connection>> closing_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  asio::steady_timer restart_timer_, stale_timer_;
  std::optional<wire::Negotiated> neg_;
  wire::DecodeContext dctx_;
  wire::EncodeContext ectx_;
  std::optional<IpAddress> local_;
  std::map<Prefix, std::shared_ptr<const wire::PathAttributes>> adj_out_;
  // Walks of the Adj-RIB-Out still to finish; they go on as the send queue drains (pump()).
  bool sync_pending_ = false, pumping_ = false;
  std::optional<Prefix> sync_from_;  // where the sync walk resumes; unset: at the start
  uint64_t sync_announced_ = 0, sync_withdrawn_ = 0, sync_msgs_ = 0;  // over one walk, for its log line
  struct RefreshWalk {
    bool active = false;
    bool begun = false;  // BoRR sent (enhanced route refresh)
    std::optional<Prefix> from;
    uint64_t sent = 0;
  };
  std::array<RefreshWalk, 2> refresh_;  // IPv4, IPv6 unicast
  uint64_t refreshes_merged_ = 0;
  std::map<std::pair<ExportAttrs, bool>, std::shared_ptr<const wire::PathAttributes>> attr_cache_;
  std::set<Prefix> nh_warned_;
  bool eor_sent_v4_ = false, eor_sent_v6_ = false;
  // Adj-RIB-In. The value is kLive | the attribute id (kNone when only counting) | kStale.
  AttrStore attrs_;
  V4Table in4_;
  V6Table in6_;
  uint64_t received_ = 0, filtered_ = 0, stale_ = 0, discarded_ = 0;
  bool max_warned_ = false, full_warned_ = false;
  bool only_connects_failed_ = false;  // since the last OPEN exchange, every failure was a TCP connect
  const wire::Update* pending_update_ = nullptr;
  std::span<const uint8_t> pending_body_;
  uint64_t updates_sent_ = 0, updates_received_ = 0, messages_sent_ = 0, messages_received_ = 0;
  uint64_t transitions_before_ = 0, established_before_ = 0;
  std::string last_error_;
  std::optional<NotificationInfo> last_notification_;
  bool last_notification_sent_ = false;
};

// ---------------------------------------------------------------------------------------------
Speaker::Speaker(asio::io_context& io, SpeakerOptions options)
    : io_(io), options_(std::move(options)), shutdown_timer_(io) {}

Speaker::~Speaker() {
  for (auto& l : listeners_) l->close();
}

std::vector<std::pair<IpAddress, std::string>> Speaker::md5_keys() const {
  std::vector<std::pair<IpAddress, std::string>> keys;
  for (auto& [n, p] : peers_)
    if (!p->cfg().md5_key.empty() && p->cfg().interface.empty()) keys.emplace_back(p->cfg().address, p->cfg().md5_key);
  return keys;
}

std::expected<void, std::string> Speaker::apply_listeners(std::vector<IpAddress> listen, uint16_t port,
                                                          bool close_unwanted) {
  if (shutting_down_) return {};
  std::set<IpAddress> want;
  if (port) want.insert(listen.begin(), listen.end());
  std::set<IpAddress> have;
  for (auto& l : listeners_)
    if (l->port() == port) have.insert(l->local());
  // Open what is missing first, each with every neighbour's key; any failure undoes them all.
  std::vector<std::shared_ptr<Listener>> opened;
  for (auto& a : want) {
    if (have.count(a)) continue;
    auto l = std::make_shared<Listener>(io_, *this, a);
    if (auto e = l->open(port, md5_keys()); !e.empty()) {
      for (auto& o : opened) o->close();
      return std::unexpected(e);
    }
    opened.push_back(std::move(l));
  }
  std::erase_if(listeners_, [&](const std::shared_ptr<Listener>& l) {
    if (!close_unwanted || (l->port() == port && want.count(l->local()))) return false;
    spdlog::info("bgp: no longer listening on {} port {}", l->local().str(), l->port());
    l->close();
    return true;
  });
  for (auto& l : opened) {
    spdlog::info("bgp: listening on {} port {}", l->local().str(), port);
    listeners_.push_back(std::move(l));
  }
  if (close_unwanted) {
    options_.listen = std::move(listen);
    options_.listen_port = port;
  }
  return {};
}

std::vector<std::string> Speaker::start() {
  std::vector<std::string> errors;
  if (options_.listen_port == 0) return errors;
  std::set<IpAddress> addrs(options_.listen.begin(), options_.listen.end());
  for (auto& a : addrs) {
    auto keys = md5_keys();
    auto l = std::make_shared<Listener>(io_, *this, a);
    if (auto e = l->open(options_.listen_port, keys); !e.empty()) {
      errors.push_back(e);
      continue;
    }
    spdlog::info("bgp: listening on {} port {}", a.str(), options_.listen_port);
    listeners_.push_back(std::move(l));
  }
  return errors;
}

void Speaker::accept(const IpAddress& local, tcp::socket s) {
  error_code ec;
  auto remote = s.remote_endpoint(ec);
  if (ec) return;
  IpAddress from = address_of(remote.address());
  for (auto& [n, p] : peers_) {
    // Unnumbered neighbours are not listened for (vaned calls them): a link-local address names
    // no one without its interface.
    if (p->cfg().interface.empty() && p->cfg().address == from) {
      spdlog::debug("bgp {}: incoming connection on {}", n, local.str());
      p->incoming(std::move(s));
      return;
    }
  }
  // Not a configured neighbour: close without a word, as routers do.
  spdlog::info("bgp: refusing connection from unconfigured {}", from.str());
}

void Speaker::add_neighbor(NeighborConfig cfg) {
  std::string name = cfg.name;
  if (!cfg.md5_key.empty() && cfg.interface.empty())
    for (auto& l : listeners_) l->set_key(cfg.address, cfg.md5_key);
  auto p = std::make_unique<Peer>(*this, std::move(cfg));
  Peer* raw = p.get();
  peers_[name] = std::move(p);
  raw->start();
}

void Speaker::remove_neighbor(const std::string& name) {
  auto it = peers_.find(name);
  if (it == peers_.end()) return;
  bfd_held_.erase(name);
  learned_.erase(name);
  it->second->close(wire::CeaseSubcode::peer_deconfigured, "neighbor removed from the configuration");
  // A key left on a listener would keep accepting whoever holds it.
  if (!it->second->cfg().md5_key.empty() && it->second->cfg().interface.empty())
    for (auto& l : listeners_) l->set_key(it->second->cfg().address, {});
  // The connection flushes the NOTIFICATION by itself (it keeps itself alive, bounded by
  // close_after_flush's deadline); the peer has nothing left to do.
  peers_.erase(it);
}

void Speaker::update_neighbor(NeighborConfig cfg) {
  auto it = peers_.find(cfg.name);
  if (it == peers_.end()) return add_neighbor(std::move(cfg));
  auto change = classify_neighbor_change(it->second->cfg(), cfg);
  std::string fields;
  for (auto& f : change.fields) fields += (fields.empty() ? "" : ", ") + f;
  switch (change.kind) {
    case NeighborChange::kNone:
      return;
    case NeighborChange::kInPlace:
      spdlog::info("bgp {}: configuration changed ({}): applied to the running session", cfg.name, fields);
      it->second->reconfigure(std::move(cfg), change.fields);
      return;
    case NeighborChange::kReset: {
      spdlog::info("bgp {}: configuration changed ({}): {}; restarting the session", cfg.name, fields, change.reason);
      // The BFD hold belongs to the neighbour, not to this session: a held one stays held.
      auto held = bfd_held_.find(cfg.name);
      const std::optional<bool> hold = held == bfd_held_.end() ? std::nullopt : std::optional<bool>(held->second);
      // So is a learned router address, while the neighbour stays on the same interface.
      auto learned = learned_.find(cfg.name);
      std::optional<IpAddress> addr;
      if (learned != learned_.end() && cfg.interface == it->second->cfg().interface) addr = learned->second;
      remove_neighbor(cfg.name);
      if (hold) bfd_held_[cfg.name] = *hold;
      if (addr) learned_[cfg.name] = *addr;
      add_neighbor(std::move(cfg));
      return;
    }
  }
}

void Speaker::set_exports(ExportSet exports) {
  if (exports == exports_) return;
  exports_ = std::move(exports);
  sync_all();
}

void Speaker::set_exports_ready() {
  if (exports_ready_) return;
  exports_ready_ = true;
  sync_all();
}

void Speaker::sync_all() {
  if (shutting_down_) return;
  for (auto& [n, p] : peers_) p->set_exports_changed();
}

void Speaker::set_bfd_state(const std::string& name, bool up, bool hold, bool close) {
  bfd_held_[name] = hold && !up;
  auto it = peers_.find(name);
  if (it == peers_.end()) return;
  if (up)
    it->second->bfd_up();
  else if (close)
    it->second->bfd_down();
}

void Speaker::set_learned_address(const std::string& name, std::optional<IpAddress> address) {
  auto old = learned_.find(name);
  const std::optional<IpAddress> before = old == learned_.end() ? std::nullopt : std::optional(old->second);
  if (before == address) return;
  if (address)
    learned_[name] = *address;
  else
    learned_.erase(name);
  auto it = peers_.find(name);
  if (it == peers_.end() || !it->second->cfg().learn_address) return;
  spdlog::info("bgp {}: router address {} on {}", name, address ? address->str() : "forgotten",
               it->second->cfg().interface);
  if (before) {
    // Another router (or the same one renumbered) on the link: the session belongs to the old one.
    NeighborConfig cfg = it->second->cfg();
    auto held = bfd_held_.find(name);
    const std::optional<bool> hold = held == bfd_held_.end() ? std::nullopt : std::optional<bool>(held->second);
    remove_neighbor(name);
    if (hold) bfd_held_[name] = *hold;
    if (address) learned_[name] = *address;
    add_neighbor(std::move(cfg));
    return;
  }
  it->second->bfd_up();
}

bool Speaker::neighbor_shutdown(const std::string& name, const std::string& message) {
  auto it = peers_.find(name);
  if (it == peers_.end()) return false;
  it->second->shutdown(message, false);
  return true;
}

bool Speaker::neighbor_enable(const std::string& name) {
  auto it = peers_.find(name);
  if (it == peers_.end()) return false;
  it->second->enable();
  return true;
}

bool Speaker::neighbor_reset(const std::string& name, const std::string& message) {
  auto it = peers_.find(name);
  if (it == peers_.end()) return false;
  it->second->shutdown(message, true);
  return true;
}

void Speaker::shutdown(const std::string& message, std::chrono::milliseconds deadline, std::function<void()> done) {
  shutting_down_ = true;
  for (auto& l : listeners_) l->close();
  for (auto& [n, p] : peers_) p->shutdown(message, false);
  shutdown_done_ = std::move(done);
  shutdown_until_ = std::chrono::steady_clock::now() + deadline;
  // done() is called from the io_context, never from inside this call.
  shutdown_timer_.expires_after(0ms);
  shutdown_timer_.async_wait([this](error_code ec) { on_shutdown_poll(ec); });
}

// Polls until every NOTIFICATION and withdrawal has been written, bounded by the deadline. The
// timer is a member: if the io_context stops first, nothing is left holding anything.
void Speaker::on_shutdown_poll(error_code ec) {
  if (ec || !shutdown_done_) return;
  bool busy = false;
  for (auto& [n, p] : peers_) busy |= p->flushing();
  if (busy && std::chrono::steady_clock::now() < shutdown_until_) {
    shutdown_timer_.expires_after(10ms);
    shutdown_timer_.async_wait([this](error_code e) { on_shutdown_poll(e); });
    return;
  }
  std::exchange(shutdown_done_, nullptr)();
}

std::vector<NeighborStatus> Speaker::status() const {
  std::vector<NeighborStatus> out;
  for (auto& [n, p] : peers_) out.push_back(p->status());
  return out;
}

std::vector<ReceivedRoute> Speaker::received_routes(const std::string& neighbor, size_t limit) const {
  auto it = peers_.find(neighbor);
  if (it == peers_.end()) return {};
  return it->second->routes(limit);
}

}  // namespace vane::bgp
