// The speaker against a scripted peer on loopback: the peer is written with the codec and blocking
// sockets in the test thread; the speaker runs on its io_context in another thread.
#include "bgp/speaker.h"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <functional>
#include <future>
#include <set>
#include <thread>

#include "bgp/wire/message.h"

namespace vane::bgp {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

class ScriptedPeer : public ::testing::Test {
 protected:
  void SetUp() override {
    acceptor_.open(tcp::v4());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    speaker_ = std::make_unique<Speaker>(io_, SpeakerOptions{.listen = {}, .listen_port = 0});
    work_.emplace(asio::make_work_guard(io_));
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    on_io([this] { speaker_.reset(); });
    work_.reset();
    io_.stop();
    thread_.join();
  }

  // Runs f on the speaker's thread and waits for it.
  template <class F>
  void on_io(F f) {
    std::promise<void> done;
    asio::post(io_, [&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }

  NeighborConfig neighbor() {
    NeighborConfig c;
    c.name = "peer";
    c.address = *IpAddress::parse("127.0.0.1");
    c.port = acceptor_.local_endpoint().port();
    c.local_asn = 4200000011u;
    c.remote_asn = 65000;
    c.router_id = 0xC000020B;
    c.hold_time = 9s;
    c.connect_retry = 1s;
    c.ttl = 64;
    c.next_hop = IpAddress::parse("192.0.2.11");
    return c;
  }

  // Reads one whole message off the peer socket (blocking, bounded by SO_RCVTIMEO).
  std::vector<uint8_t> read_message(tcp::socket& s) {
    std::vector<uint8_t> m(19);
    asio::read(s, asio::buffer(m));
    size_t len = size_t(m[16]) << 8 | m[17];
    EXPECT_GE(len, 19u);
    m.resize(len);
    if (len > 19) asio::read(s, asio::buffer(m.data() + 19, len - 19));
    return m;
  }
  wire::Message decode(const std::vector<uint8_t>& m) {
    auto r = wire::decode_message(m, wire::DecodeContext{});
    EXPECT_TRUE(r.has_value());
    return r ? *r : wire::Message{wire::Keepalive{}};
  }
  // Reads messages until one of type T arrives (KEEPALIVEs in between are skipped).
  template <class T>
  T expect(tcp::socket& s) {
    for (int i = 0; i < 20; ++i) {
      // Decoded UPDATEs view into their buffer: keep every message for the test's lifetime.
      kept_.push_back(read_message(s));
      const auto& raw = kept_.back();
      auto m = decode(raw);
      if (auto* t = std::get_if<T>(&m)) return *t;
      if (!std::holds_alternative<wire::Keepalive>(m)) ADD_FAILURE() << "unexpected message type " << int(raw[18]);
    }
    ADD_FAILURE() << "message never came";
    return T{};
  }

  tcp::socket accept_session(wire::Capabilities caps = default_caps()) {
    tcp::socket s(peer_io_);
    acceptor_.accept(s);
    timeval tv{5, 0};
    setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    auto open = expect<wire::OpenMessage>(s);
    EXPECT_EQ(open.asn(), 4200000011u);
    EXPECT_EQ(open.my_as, wire::kAsTrans);
    EXPECT_EQ(open.hold_time, 9);
    asio::write(s, asio::buffer(wire::encode_open(wire::OpenMessage::make(65000, 9, 0xC0000201, caps))));
    asio::write(s, asio::buffer(wire::encode_keepalive()));
    expect<wire::Keepalive>(s);
    return s;
  }
  // The router announces `ps` from AS 65000, next hop 192.0.2.1 (or 2001:db8::1 for IPv6).
  void send_routes(tcp::socket& s, const std::vector<wire::WirePrefix>& ps) {
    wire::PathAttributes a;
    a.as_path = wire::AsPath::sequence({65000});
    if (ps.front().is_v4())
      a.next_hop = IpAddress::parse("192.0.2.1");
    else
      a.mp_next_hop = IpAddress::parse("2001:db8::1");
    std::vector<uint8_t> out;
    ASSERT_TRUE(wire::encode_announce(a, ps, wire::EncodeContext{}, out).has_value());
    asio::write(s, asio::buffer(out));
  }
  // n distinct /30s from 198.51.100.0.
  static std::vector<wire::WirePrefix> v4_routes(uint32_t n) {
    std::vector<wire::WirePrefix> ps;
    for (uint32_t i = 0; i < n; ++i) ps.push_back(wire::WirePrefix::v4(0xC6336400 + (i << 2), 30));
    return ps;
  }
  NeighborStatus status() {
    std::vector<NeighborStatus> st;
    on_io([&] { st = speaker_->status(); });
    return st.at(0);
  }

  static wire::Capabilities default_caps() {
    wire::Capabilities c;
    c.multiprotocol = {wire::kIpv4Unicast};
    c.route_refresh = true;
    c.four_byte_as = 65000;
    return c;
  }
  // A router that restarts gracefully and preserves IPv4 forwarding (RFC 4724).
  static wire::Capabilities gr_caps() {
    wire::Capabilities caps = default_caps();
    wire::GracefulRestart gr;
    gr.restart_time = 30;
    gr.families = {{wire::kIpv4Unicast, wire::GracefulRestart::kForwardingPreserved}};
    caps.graceful_restart = gr;
    return caps;
  }
  // Waits up to 1 s for `done` (the speaker runs on its own thread); the caller asserts after.
  static void eventually(const std::function<bool()>& done) {
    for (int i = 0; i < 50 && !done(); ++i) std::this_thread::sleep_for(20ms);
  }

  std::deque<std::vector<uint8_t>> kept_;
  asio::io_context io_, peer_io_;
  tcp::acceptor acceptor_{peer_io_};
  std::unique_ptr<Speaker> speaker_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
};

ExportSet one_prefix(uint32_t med) {
  ExportSet e;
  ExportAttrs a;
  a.communities = {0xFDE80064};
  a.med = med;
  a.prepend = 1;
  e[*Prefix::parse("203.0.113.10/32")] = a;
  e[*Prefix::parse("203.0.113.20/32")] = a;
  return e;
}

TEST_F(ScriptedPeer, AnnouncesConfiguredPrefixesPackedInOneUpdateThenEndOfRib) {
  on_io([&] {
    speaker_->add_neighbor(neighbor());
    speaker_->set_exports(one_prefix(50));
    speaker_->set_exports_ready();
  });
  auto s = accept_session();
  auto u = expect<wire::Update>(s);
  EXPECT_EQ(u.nlri.size(), 2u);
  EXPECT_EQ(u.attrs.as_path, wire::AsPath::sequence({4200000011u, 4200000011u}));
  EXPECT_EQ(u.attrs.med, 50u);
  EXPECT_EQ(u.attrs.communities, std::vector<uint32_t>{0xFDE80064});
  EXPECT_EQ(u.attrs.next_hop->str(), "192.0.2.11");
  EXPECT_EQ(u.attrs.origin, wire::Origin::igp);
  auto eor = expect<wire::Update>(s);
  EXPECT_TRUE(eor.end_of_rib.has_value());
}

TEST_F(ScriptedPeer, AChangedAttributeSendsOneUpdateAndARemovedPrefixIsWithdrawn) {
  on_io([&] {
    speaker_->add_neighbor(neighbor());
    speaker_->set_exports(one_prefix(50));
    speaker_->set_exports_ready();
  });
  auto s = accept_session();
  expect<wire::Update>(s);
  expect<wire::Update>(s);  // End-of-RIB
  on_io([&] {
    auto e = one_prefix(50);
    e.begin()->second.med = 70;  // 203.0.113.10 only
    speaker_->set_exports(e);
  });
  auto u = expect<wire::Update>(s);
  ASSERT_EQ(u.nlri.size(), 1u);
  EXPECT_EQ(u.nlri.to_vector()[0].to_prefix().str(), "203.0.113.10/32");
  EXPECT_EQ(u.attrs.med, 70u);
  on_io([&] { speaker_->set_exports({}); });
  auto w = expect<wire::Update>(s);
  EXPECT_EQ(w.withdrawn.size(), 2u);
  EXPECT_TRUE(w.nlri.empty());
}

TEST_F(ScriptedPeer, NothingIsAnnouncedBeforeTheExportsAreReady) {
  on_io([&] {
    speaker_->add_neighbor(neighbor());
    speaker_->set_exports(one_prefix(50));
  });
  auto s = accept_session();
  // Only keepalives until ready; then the routes and End-of-RIB.
  on_io([&] { speaker_->set_exports_ready(); });
  auto u = expect<wire::Update>(s);
  EXPECT_EQ(u.nlri.size(), 2u);
}

TEST_F(ScriptedPeer, MalformedUpdateGetsTheRightNotificationAndTheSpeakerReconnects) {
  on_io([&] { speaker_->add_neighbor(neighbor()); });
  auto s = accept_session();
  // Total path attribute length runs past the end of the message: RFC 4271 6.3 / RFC 7606 -> 3/1.
  std::vector<uint8_t> bad(16, 0xff);
  bad.insert(bad.end(), {0, 27, 2, 0, 0, 0, 200, 0x40, 1, 1, 0});
  asio::write(s, asio::buffer(bad));
  auto n = expect<wire::Notification>(s);
  EXPECT_EQ(n.code, 3);
  EXPECT_EQ(n.subcode, 1);
  auto s2 = accept_session();  // a new connection, within the (1 s) retry
  SUCCEED();
}

TEST_F(ScriptedPeer, RouteRefreshResendsEverything) {
  on_io([&] {
    speaker_->add_neighbor(neighbor());
    speaker_->set_exports(one_prefix(50));
    speaker_->set_exports_ready();
  });
  auto s = accept_session();
  expect<wire::Update>(s);
  expect<wire::Update>(s);
  asio::write(s, asio::buffer(wire::encode_route_refresh({wire::kIpv4Unicast, 0})));
  auto u = expect<wire::Update>(s);
  EXPECT_EQ(u.nlri.size(), 2u);
}

TEST_F(ScriptedPeer, ShutdownWithdrawsThenSendsCeaseWithTheShutdownCommunication) {
  on_io([&] {
    speaker_->add_neighbor(neighbor());
    speaker_->set_exports(one_prefix(50));
    speaker_->set_exports_ready();
  });
  auto s = accept_session();
  expect<wire::Update>(s);
  expect<wire::Update>(s);
  std::promise<void> done;
  on_io([&] { speaker_->shutdown("maintenance", 1s, [&] { done.set_value(); }); });
  auto w = expect<wire::Update>(s);
  EXPECT_EQ(w.withdrawn.size(), 2u);
  auto n = expect<wire::Notification>(s);
  EXPECT_EQ(n.code, 6);
  EXPECT_EQ(n.subcode, 2);
  auto text = wire::shutdown_communication(n);
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(*text, "maintenance");
  EXPECT_EQ(done.get_future().wait_for(3s), std::future_status::ready);
}

TEST_F(ScriptedPeer, ReceivedRoutesAreCountedAndKeptWhenAsked) {
  on_io([&] {
    auto c = neighbor();
    c.keep_routes = true;
    c.max_prefixes = 100;
    speaker_->add_neighbor(c);
  });
  auto s = accept_session();
  send_routes(s, v4_routes(50));
  for (int i = 0; i < 50; ++i) {
    std::vector<NeighborStatus> st;
    on_io([&] { st = speaker_->status(); });
    if (st[0].prefixes_received == 50) break;
    std::this_thread::sleep_for(20ms);
  }
  std::vector<ReceivedRoute> routes;
  std::vector<NeighborStatus> st;
  on_io([&] {
    st = speaker_->status();
    routes = speaker_->received_routes("peer", 10);
  });
  EXPECT_EQ(st[0].prefixes_received, 50u);
  ASSERT_EQ(routes.size(), 10u);
  EXPECT_EQ(routes[0].prefix.str(), "198.51.100.0/30");
  EXPECT_NE(routes[0].attributes.find("as-path 65000"), std::string::npos) << routes[0].attributes;
}

TEST_F(ScriptedPeer, MaxPrefixClosesTheSessionWithCease1) {
  on_io([&] {
    auto c = neighbor();
    c.max_prefixes = 10;
    speaker_->add_neighbor(c);
  });
  auto s = accept_session();
  send_routes(s, v4_routes(11));
  auto n = expect<wire::Notification>(s);
  EXPECT_EQ(n.code, 6);
  EXPECT_EQ(n.subcode, 1);
  std::vector<NeighborStatus> st;
  on_io([&] { st = speaker_->status(); });
  EXPECT_EQ(st[0].state, State::Idle);
  EXPECT_TRUE(st[0].admin_down);
}

}  // namespace
}  // namespace vane::bgp

namespace vane::bgp {
namespace {

uint16_t free_port() {
  asio::io_context io;
  tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

TEST_F(ScriptedPeer, APeerThatWasNotListeningIsAcceptedWhenItCallsDuringTheBackoff) {
  uint16_t listen = free_port(), closed = free_port();
  on_io([&] {
    speaker_ = std::make_unique<Speaker>(
        io_, SpeakerOptions{.listen = {*IpAddress::parse("127.0.0.1")}, .listen_port = listen});
    ASSERT_TRUE(speaker_->start().empty());
    auto c = neighbor();
    c.port = closed;        // our connect is refused: Idle with a restart backoff
    c.connect_retry = 30s;  // long enough that only taking the call can bring the session up
    speaker_->add_neighbor(c);
  });
  std::this_thread::sleep_for(200ms);
  tcp::socket s(peer_io_);
  s.connect({asio::ip::make_address("127.0.0.1"), listen});
  timeval tv{5, 0};
  setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  asio::write(s, asio::buffer(wire::encode_open(wire::OpenMessage::make(65000, 9, 0xC0000201, default_caps()))));
  auto open = expect<wire::OpenMessage>(s);
  EXPECT_EQ(open.asn(), 4200000011u);
}

TEST_F(ScriptedPeer, KeptIpv6RoutesShowTheirNextHop) {
  on_io([&] {
    auto c = neighbor();
    c.keep_routes = true;
    c.ipv6_unicast = true;
    speaker_->add_neighbor(c);
  });
  wire::Capabilities caps = default_caps();
  caps.multiprotocol = {wire::kIpv4Unicast, wire::kIpv6Unicast};
  auto s = accept_session(caps);
  send_routes(s, {*wire::WirePrefix::from(*Prefix::parse("2001:db8:77::/48"))});
  std::vector<ReceivedRoute> routes;
  for (int i = 0; i < 50 && routes.empty(); ++i) {
    std::this_thread::sleep_for(20ms);
    on_io([&] { routes = speaker_->received_routes("peer", 10); });
  }
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].prefix.str(), "2001:db8:77::/48");
  EXPECT_NE(routes[0].attributes.find("next-hop 2001:db8::1"), std::string::npos) << routes[0].attributes;
}

}  // namespace
}  // namespace vane::bgp

namespace vane::bgp {
namespace {

TEST_F(ScriptedPeer, ARestartingRoutersRoutesStayStaleUntilItsEndOfRib) {
  on_io([&] {
    auto c = neighbor();
    c.keep_routes = true;
    c.graceful_restart = true;
    speaker_->add_neighbor(c);
  });
  wire::Capabilities caps = gr_caps();
  {
    auto s = accept_session(caps);
    send_routes(s, v4_routes(3));
    eventually([&] { return status().prefixes_received >= 3; });
    ASSERT_EQ(status().prefixes_received, 3u);
  }  // the router goes away without a NOTIFICATION
  eventually([&] { return status().state != State::Established; });
  EXPECT_EQ(status().prefixes_received, 3u);
  EXPECT_EQ(status().stale_routes, 3u);
  auto s = accept_session(caps);  // it comes back, still preserving IPv4 forwarding
  send_routes(s, v4_routes(1));
  std::vector<uint8_t> eor;
  wire::encode_end_of_rib(wire::kIpv4Unicast, eor);
  asio::write(s, asio::buffer(eor));
  eventually([&] { return status().stale_routes == 0; });
  EXPECT_EQ(status().stale_routes, 0u);
  EXPECT_EQ(status().prefixes_received, 1u);  // the two it did not re-announce are gone
}

TEST_F(ScriptedPeer, StaleRoutesGoAtOnceWhenTheRouterNoLongerPreservesForwarding) {
  on_io([&] {
    auto c = neighbor();
    c.graceful_restart = true;
    speaker_->add_neighbor(c);
  });
  wire::Capabilities caps = gr_caps();
  {
    auto s = accept_session(caps);
    send_routes(s, {wire::WirePrefix::v4(0xC6336400, 30)});
    eventually([&] { return status().prefixes_received >= 1; });
  }
  eventually([&] { return status().state != State::Established; });
  EXPECT_EQ(status().stale_routes, 1u);
  caps.graceful_restart->families[0].flags = 0;  // forwarding state lost across its restart
  auto s = accept_session(caps);
  eventually([&] { return status().prefixes_received == 0; });
  EXPECT_EQ(status().prefixes_received, 0u);
  EXPECT_EQ(status().stale_routes, 0u);
}

}  // namespace
}  // namespace vane::bgp

namespace vane::bgp {
namespace {

TEST_F(ScriptedPeer, TheImportFilterRefusesRoutesOutsideItsRanges) {
  on_io([&] {
    auto c = neighbor();
    c.keep_routes = true;
    c.import_filter.push_back({*Prefix::parse("198.51.100.0/24"), 24, 30});
    speaker_->add_neighbor(c);
  });
  auto s = accept_session();
  send_routes(s, {*wire::WirePrefix::from(*Prefix::parse("198.51.100.0/28")),   // in
                  *wire::WirePrefix::from(*Prefix::parse("198.51.100.8/32")),   // too long
                  *wire::WirePrefix::from(*Prefix::parse("203.0.113.0/24"))});  // outside
  std::vector<NeighborStatus> st;
  for (int i = 0; i < 50; ++i) {
    on_io([&] { st = speaker_->status(); });
    if (st[0].prefixes_filtered == 2) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(st[0].prefixes_received, 1u);
  EXPECT_EQ(st[0].prefixes_filtered, 2u);
  std::vector<ReceivedRoute> routes;
  on_io([&] { routes = speaker_->received_routes("peer", 10); });
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].prefix.str(), "198.51.100.0/28");
}

}  // namespace
}  // namespace vane::bgp

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

namespace vane::bgp {
namespace {

// Uses up every descriptor the process may open, until destroyed.
class DescriptorsExhausted {
 public:
  DescriptorsExhausted() {
    getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit low = saved_;
    if (low.rlim_cur > 1024) low.rlim_cur = 1024;
    setrlimit(RLIMIT_NOFILE, &low);
    int base = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (base >= 0) fds_.push_back(base);
    for (int i = 0; i < 4096 && base >= 0; ++i) {
      int fd = fcntl(base, F_DUPFD_CLOEXEC, 0);
      if (fd < 0) {
        exhausted_ = errno == EMFILE;
        break;
      }
      fds_.push_back(fd);
    }
  }
  ~DescriptorsExhausted() { release(); }
  void release() {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
    setrlimit(RLIMIT_NOFILE, &saved_);
  }
  bool exhausted() const { return exhausted_; }

 private:
  rlimit saved_{};
  std::vector<int> fds_;
  bool exhausted_ = false;
};

TEST_F(ScriptedPeer, TheListenerBacksOffWhenOutOfDescriptorsAndRecovers) {
  uint16_t listen = free_port();
  on_io([&] {
    speaker_ = std::make_unique<Speaker>(
        io_, SpeakerOptions{.listen = {*IpAddress::parse("127.0.0.1")}, .listen_port = listen});
    ASSERT_TRUE(speaker_->start().empty());
    auto c = neighbor();
    c.passive = true;
    speaker_->add_neighbor(c);
  });
  auto accept_errors = [&] {
    uint64_t n = 0;
    on_io([&] { n = speaker_->accept_errors(); });
    return n;
  };
  tcp::socket s(peer_io_);
  s.open(tcp::v4());  // before the descriptors run out
  uint64_t during = 0;
  {
    DescriptorsExhausted full;
    ASSERT_TRUE(full.exhausted());
    // The kernel completes the handshake from the listen queue; vaned's accept() gets EMFILE.
    s.non_blocking(true);
    boost::system::error_code ec;
    s.connect({asio::ip::make_address("127.0.0.1"), listen}, ec);
    std::this_thread::sleep_for(500ms);
    during = accept_errors();
  }
  // Re-armed at once, accept() fails thousands of times in half a second; with the backoff about 5.
  EXPECT_GE(during, 1u);
  EXPECT_LE(during, 500ms / Speaker::kAcceptRetry + 2);
  // Descriptors are back: the queued connection is taken and the session starts on it.
  s.non_blocking(false);
  timeval tv{5, 0};
  setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto open = expect<wire::OpenMessage>(s);
  EXPECT_EQ(open.asn(), 4200000011u);
}

}  // namespace
}  // namespace vane::bgp

namespace vane::bgp {
namespace {

// A message of `type` and `len` bytes whose body starts with `head`, padded with zeros.
std::vector<uint8_t> sized_message(wire::MessageType type, size_t len, std::vector<uint8_t> head) {
  std::vector<uint8_t> m(len, 0);
  std::fill_n(m.begin(), 16, 0xff);
  m[16] = uint8_t(len >> 8);
  m[17] = uint8_t(len);
  m[18] = uint8_t(type);
  std::copy(head.begin(), head.end(), m.begin() + 19);
  return m;
}

wire::Capabilities extended_caps() {
  wire::Capabilities c;
  c.multiprotocol = {wire::kIpv4Unicast};
  c.route_refresh = true;
  c.four_byte_as = 65000;
  c.extended_message = true;
  return c;
}

TEST_F(ScriptedPeer, AfterExtendedMessagesARouteRefreshAndANotificationMayExceed4096) {
  on_io([&] {
    speaker_->add_neighbor(neighbor());
    speaker_->set_exports(one_prefix(50));
    speaker_->set_exports_ready();
  });
  auto s = accept_session(extended_caps());
  expect<wire::Update>(s);
  expect<wire::Update>(s);  // End-of-RIB
  // A request followed by ORF entries (RFC 5291), 4097 bytes: answered, not refused as too long.
  asio::write(s, asio::buffer(sized_message(wire::MessageType::route_refresh, 4097, {0, 1, 0, 1})));
  auto u = expect<wire::Update>(s);
  EXPECT_EQ(u.nlri.size(), 2u);
  // The largest NOTIFICATION the session allows is taken as the peer's word.
  asio::write(s, asio::buffer(sized_message(wire::MessageType::notification, 65535, {6, 6})));
  eventually([&] { return status().state != State::Established; });
  auto st = status();
  ASSERT_TRUE(st.last_notification.has_value());
  EXPECT_FALSE(st.last_notification_sent);
  EXPECT_EQ(st.last_notification->code, 6);
  EXPECT_EQ(st.last_notification->subcode, 6);
  EXPECT_EQ(st.last_notification->data.size(), 65535u - 21);
}

TEST_F(ScriptedPeer, WithoutExtendedMessagesA4097ByteRouteRefreshIsBadMessageLength) {
  on_io([&] {
    auto c = neighbor();
    c.extended_messages = false;
    speaker_->add_neighbor(c);
  });
  auto s = accept_session(extended_caps());
  asio::write(s, asio::buffer(sized_message(wire::MessageType::route_refresh, 4097, {0, 1, 0, 1})));
  auto n = expect<wire::Notification>(s);
  EXPECT_EQ(n.code, 1);
  EXPECT_EQ(n.subcode, 2);
  EXPECT_EQ(n.data, (std::vector<uint8_t>{0x10, 0x01}));
}

}  // namespace
}  // namespace vane::bgp

namespace vane::bgp {
namespace {

// The shutdown communication is the router operator's free text: it reaches the log and `vanectl
// show neighbors` (last_error, the notification's text) escaped, never as terminal control bytes.
TEST_F(ScriptedPeer, AShutdownCommunicationArrivesEscapedInTheStatus) {
  on_io([&] { speaker_->add_neighbor(neighbor()); });
  auto s = accept_session();
  const std::string text = "maintenance\x1b[2J\nFAKE bgp peer: Established \\ done";
  asio::write(
      s,
      asio::buffer(wire::encode_notification(wire::make_shutdown(wire::CeaseSubcode::administrative_shutdown, text))));
  eventually([&] { return status().last_notification.has_value(); });
  auto st = status();
  ASSERT_TRUE(st.last_notification.has_value());
  EXPECT_EQ(st.last_error,
            "received Cease / Administrative Shutdown: "
            "\"maintenance\\x1b[2J\\x0aFAKE bgp peer: Established \\\\ done\"");
  for (char c : st.last_error) EXPECT_TRUE(c >= 0x20 && c <= 0x7e) << int(c);
}

}  // namespace
}  // namespace vane::bgp

namespace vane::bgp {
namespace {

// n distinct /64s in 2001:db8::/32, from `first` on.
std::vector<wire::WirePrefix> v6_routes(uint32_t n, uint32_t first = 0) {
  std::vector<wire::WirePrefix> ps;
  for (uint32_t i = first; i < first + n; ++i) {
    auto p = *Prefix::parse("2001:db8::/64");
    p.addr.bytes[4] = uint8_t(i >> 24);
    p.addr.bytes[5] = uint8_t(i >> 16);
    p.addr.bytes[6] = uint8_t(i >> 8);
    p.addr.bytes[7] = uint8_t(i);
    ps.push_back(*wire::WirePrefix::from(p));
  }
  return ps;
}

wire::Capabilities dual_caps() {
  wire::Capabilities c;
  c.multiprotocol = {wire::kIpv4Unicast, wire::kIpv6Unicast};
  c.route_refresh = true;
  c.four_byte_as = 65000;
  return c;
}

TEST_F(ScriptedPeer, WithNoLimitConfiguredAFloodStopsBeingStoredAtTheDefaultBound) {
  ASSERT_EQ(neighbor().max_routes, kDefaultMaxRoutes);
  on_io([&] {
    auto c = neighbor();
    c.ipv6_unicast = true;
    speaker_->add_neighbor(c);
  });
  auto s = accept_session(dual_caps());
  const uint32_t bound = kDefaultMaxRoutes;
  send_routes(s, v6_routes(bound + 50));
  for (int i = 0; i < 500 && status().prefixes_discarded < 50; ++i) std::this_thread::sleep_for(20ms);
  auto st = status();
  EXPECT_EQ(st.prefixes_received, bound);
  EXPECT_EQ(st.prefixes_discarded, 50u);
  // Not a reason to drop the session: it carries this server's announcements.
  EXPECT_EQ(st.state, State::Established);
  // A withdraw makes room; a held prefix announced again is still taken when full.
  std::vector<uint8_t> out;
  ASSERT_TRUE(wire::encode_withdraw(v6_routes(10), wire::EncodeContext{}, out).has_value());
  asio::write(s, asio::buffer(out));
  send_routes(s, v6_routes(10, bound));  // ten of those discarded before
  send_routes(s, v6_routes(5, 100));     // held already
  send_routes(s, v6_routes(1, bound + 1000));
  eventually([&] { return status().prefixes_discarded >= 51; });
  st = status();
  EXPECT_EQ(st.prefixes_received, bound);
  EXPECT_EQ(st.prefixes_discarded, 51u);
  EXPECT_EQ(st.state, State::Established);
}

TEST_F(ScriptedPeer, AStopLimitAtTheStorageBoundStillClosesTheSession) {
  on_io([&] {
    auto c = neighbor();
    c.max_prefixes = 10;
    c.max_routes = 10;  // as with a limit at or above the default bound
    speaker_->add_neighbor(c);
  });
  auto s = accept_session();
  send_routes(s, v4_routes(11));
  auto n = expect<wire::Notification>(s);
  EXPECT_EQ(n.code, 6);
  EXPECT_EQ(n.subcode, 1);
  EXPECT_EQ(status().prefixes_discarded, 1u);
}

}  // namespace
}  // namespace vane::bgp

namespace vane::bgp {
namespace {

// n /64s in 2001:db8::/32 announced with one attribute set.
ExportSet many_v6_exports(uint32_t n) {
  ExportSet e;
  ExportAttrs a;
  a.communities = {0xFDE80064};
  for (auto& p : v6_routes(n)) e[p.to_prefix()] = a;
  return e;
}

NeighborConfig dual_stack(NeighborConfig c) {
  c.ipv6_unicast = true;
  c.next_hop6 = IpAddress::parse("2001:db8::11");
  return c;
}

class ScriptedPeerWalk : public ScriptedPeer {
 protected:
  // A session whose peer proposes `hold` seconds and offers enhanced route refresh; the
  // KEEPALIVE that completes the handshake is read, nothing after it.
  tcp::socket open_session(uint16_t hold) {
    tcp::socket s(peer_io_);
    acceptor_.accept(s);
    timeval tv{5, 0};
    setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    expect<wire::OpenMessage>(s);
    wire::Capabilities caps = dual_caps();
    caps.enhanced_route_refresh = true;
    asio::write(s, asio::buffer(wire::encode_open(wire::OpenMessage::make(65000, hold, 0xC0000201, caps))));
    asio::write(s, asio::buffer(wire::encode_keepalive()));
    expect<wire::Keepalive>(s);
    return s;
  }
  // Reads UPDATEs (and ROUTE-REFRESH markers) until `stop` says so; returns the prefixes
  // announced, in order.
  std::vector<Prefix> read_announced(tcp::socket& s, const std::function<bool(const wire::Message&)>& stop) {
    std::vector<Prefix> got;
    for (int i = 0; i < 100000; ++i) {
      auto raw = read_message(s);
      auto m = wire::decode_message(raw, wire::DecodeContext{});
      if (!m) {
        ADD_FAILURE() << "undecodable message";
        return got;
      }
      if (auto* u = std::get_if<wire::Update>(&*m))
        u->for_each_announced([&](const wire::WirePrefix& p) { got.push_back(p.to_prefix()); });
      if (stop(*m)) return got;
    }
    ADD_FAILURE() << "no end";
    return got;
  }
};

bool is_eor(const wire::Message& m) {
  auto* u = std::get_if<wire::Update>(&m);
  return u && u->end_of_rib == wire::kIpv6Unicast;
}
bool is_rr(const wire::Message& m, wire::RouteRefreshSubtype sub) {
  auto* r = std::get_if<wire::RouteRefresh>(&m);
  return r && r->afi_safi == wire::kIpv6Unicast && r->subtype == uint8_t(sub);
}

// The table (about 900 KB of UPDATEs, several times the send queue's high mark) goes out step by
// step as the peer reads: every prefix exactly once, then End-of-RIB. A ROUTE-REFRESH gets all of
// them again between BoRR and EoRR, and a second request that arrives while that walk is under
// way starts it over rather than queueing the table twice.
TEST_F(ScriptedPeerWalk, AWalkInStepsSendsEveryPrefixOnceAndARepeatedRefreshStartsItOver) {
  const uint32_t n = 100000;
  auto exports = many_v6_exports(n);
  on_io([&] {
    speaker_->add_neighbor(dual_stack(neighbor()));
    speaker_->set_exports(exports);
    speaker_->set_exports_ready();
  });
  auto s = open_session(9);
  std::vector<Prefix> want;
  for (auto& [p, a] : exports) want.push_back(p);
  EXPECT_EQ(read_announced(s, is_eor), want);

  // Both in one segment: the second is read while the first walk waits for the queue to drain.
  auto rr = wire::encode_route_refresh({wire::kIpv6Unicast, 0});
  auto two = rr;
  two.insert(two.end(), rr.begin(), rr.end());
  asio::write(s, asio::buffer(two));
  bool borr = false;
  auto again = read_announced(s, [&](const wire::Message& m) {
    if (is_rr(m, wire::RouteRefreshSubtype::begin)) {
      EXPECT_FALSE(borr) << "one BoRR per refresh";
      borr = true;
    }
    return is_rr(m, wire::RouteRefreshSubtype::end);
  });
  EXPECT_TRUE(borr);
  // Everything at least once; the second request restarted the walk after its first steps.
  std::set<Prefix> seen(again.begin(), again.end());
  EXPECT_EQ(seen.size(), n);
  EXPECT_GT(again.size(), n);
  EXPECT_LT(again.size(), 2 * n);
  EXPECT_EQ(status().refreshes_merged, 1u);
}

// A configured peer that asks for ROUTE-REFRESH again and again and reads nothing (while it keeps
// sending KEEPALIVEs, so the RFC 4271 hold timer never fires): the speaker's send queue stays
// under its bound, and the session ends once the peer has taken nothing for the hold time.
TEST_F(ScriptedPeerWalk, APeerThatStopsReadingCannotGrowTheSendQueueAndIsDroppedAfterTheHoldTime) {
  const uint32_t n = 100000;
  auto exports = many_v6_exports(n);
  acceptor_.set_option(asio::socket_base::receive_buffer_size(4096));
  on_io([&] {
    auto c = dual_stack(neighbor());
    c.hold_time = 3s;
    speaker_->add_neighbor(c);
    speaker_->set_exports(exports);
    speaker_->set_exports_ready();
  });
  auto s = open_session(3);
  auto rr = wire::encode_route_refresh({wire::kIpv6Unicast, 0});
  auto ka = wire::encode_keepalive();
  size_t peak = 0;
  NeighborStatus st;
  auto start = std::chrono::steady_clock::now(), last_ka = start;
  while (std::chrono::steady_clock::now() - start < 20s) {
    boost::system::error_code ec;
    asio::write(s, asio::buffer(rr), ec);
    if (std::chrono::steady_clock::now() - last_ka >= 1s) {
      asio::write(s, asio::buffer(ka), ec);
      last_ka = std::chrono::steady_clock::now();
    }
    st = status();
    peak = std::max<size_t>(peak, st.send_queue_bytes);
    if (st.state != State::Established || peak > 16 * Speaker::kSendQueueLimit) break;
    std::this_thread::sleep_for(50ms);
  }
  // The queue filled up to the point where generation pauses, and never past the bound.
  EXPECT_GE(peak, Speaker::kSendQueueHigh);
  EXPECT_LE(peak, Speaker::kSendQueueLimit);
  EXPECT_GT(st.refreshes_merged, 0u);
  EXPECT_NE(st.state, State::Established);
  EXPECT_NE(st.last_error.find("send stalled"), std::string::npos) << st.last_error;
  EXPECT_EQ(status().send_queue_bytes, 0u);
}

}  // namespace
}  // namespace vane::bgp

// ---------------------------------------------------------------------------------------------
// Reload: edits applied to the running session, listeners and keys that follow the config.
namespace vane::bgp {
namespace {

uint16_t unused_port() {
  asio::io_context io;
  tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

// Connects to 127.0.0.1:port within 1 s; false when nothing answers (refused or dropped SYN).
bool tcp_connects(uint16_t port) {
  asio::io_context io;
  tcp::socket s(io);
  bool ok = false;
  s.async_connect({asio::ip::make_address("127.0.0.1"), port}, [&](boost::system::error_code ec) { ok = !ec; });
  io.run_for(1s);
  return ok;
}

TEST_F(ScriptedPeer, PolicyEditsApplyToTheRunningSessionAndTheHeldRoutes) {
  on_io([&] {
    auto c = neighbor();
    c.keep_routes = true;
    speaker_->add_neighbor(c);
    speaker_->set_exports(one_prefix(50));
    speaker_->set_exports_ready();
  });
  auto s = accept_session();
  expect<wire::Update>(s);
  expect<wire::Update>(s);  // End-of-RIB
  send_routes(s, v4_routes(50));
  eventually([&] { return status().prefixes_received == 50; });
  ASSERT_EQ(status().prefixes_received, 50u);
  on_io([&] {
    auto c = neighbor();
    c.description = "edited";
    c.keep_routes = false;
    c.max_prefixes = 40;  // above what the filter leaves
    c.import_filter.push_back({*Prefix::parse("198.51.100.0/26"), 26, 32});
    speaker_->update_neighbor(c);
  });
  auto st = status();
  EXPECT_EQ(st.state, State::Established);
  EXPECT_EQ(st.established_count, 1u);
  EXPECT_EQ(st.description, "edited");
  EXPECT_EQ(st.prefixes_received, 16u);  // the /30s inside 198.51.100.0/26
  EXPECT_EQ(st.prefixes_filtered, 34u);
  std::vector<ReceivedRoute> routes;
  on_io([&] { routes = speaker_->received_routes("peer", 100); });
  ASSERT_EQ(routes.size(), 16u);
  EXPECT_TRUE(routes[0].attributes.empty());  // keep_received_routes is off now
  // The same connection carries on: nothing withdrawn, the next change arrives on it.
  on_io([&] { speaker_->set_exports(one_prefix(70)); });
  auto u = expect<wire::Update>(s);
  EXPECT_TRUE(u.withdrawn.empty());
  EXPECT_EQ(u.attrs.med, 70u);
  // A looser filter cannot recover what was never stored: the router is asked to send again.
  on_io([&] {
    auto c = neighbor();
    c.description = "edited";
    c.max_prefixes = 40;
    speaker_->update_neighbor(c);
  });
  auto rr = expect<wire::RouteRefresh>(s);
  EXPECT_EQ(rr.afi_safi, wire::kIpv4Unicast);
  send_routes(s, v4_routes(30));
  eventually([&] { return status().prefixes_received == 30; });
  EXPECT_EQ(status().prefixes_received, 30u);
  EXPECT_EQ(status().established_count, 1u);
}

TEST_F(ScriptedPeer, ALowerMaxPrefixesBelowWhatIsHeldClosesTheSessionWithCease1) {
  on_io([&] { speaker_->add_neighbor(neighbor()); });
  auto s = accept_session();
  send_routes(s, v4_routes(20));
  eventually([&] { return status().prefixes_received == 20; });
  on_io([&] {
    auto c = neighbor();
    c.max_prefixes = 10;
    speaker_->update_neighbor(c);
  });
  auto n = expect<wire::Notification>(s);
  EXPECT_EQ(n.code, 6);
  EXPECT_EQ(n.subcode, 1);
}

TEST_F(ScriptedPeer, AChangedHoldTimeResetsTheSession) {
  on_io([&] { speaker_->add_neighbor(neighbor()); });
  auto s = accept_session();
  on_io([&] {
    auto c = neighbor();
    c.hold_time = 30s;
    speaker_->update_neighbor(c);
  });
  auto n = expect<wire::Notification>(s);
  EXPECT_EQ(n.code, 6);
  EXPECT_EQ(n.subcode, 3);  // peer de-configured
  tcp::socket s2(peer_io_);
  acceptor_.accept(s2);
  timeval tv{5, 0};
  setsockopt(s2.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  EXPECT_EQ(expect<wire::OpenMessage>(s2).hold_time, 30);
}

// A passive speaker whose router drops the session (a reboot) takes its next call at once, every
// time; after the router's own error (vaned sent it a NOTIFICATION) its calls wait for IdleHold.
TEST_F(ScriptedPeer, APassiveSpeakerTakesTheRoutersCallAtOnceUnlessTheRouterWasAtFault) {
  uint16_t listen = unused_port();
  on_io([&] {
    speaker_ = std::make_unique<Speaker>(
        io_, SpeakerOptions{.listen = {*IpAddress::parse("127.0.0.1")}, .listen_port = listen});
    ASSERT_TRUE(speaker_->start().empty());
    auto c = neighbor();
    c.passive = true;
    c.connect_retry = 5s;
    speaker_->add_neighbor(c);
  });
  auto call = [&] {
    tcp::socket s(peer_io_);
    s.connect({asio::ip::make_address("127.0.0.1"), listen});
    timeval tv{3, 0};
    setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    boost::system::error_code ec;  // a refused call may be closed before the OPEN is written
    asio::write(s, asio::buffer(wire::encode_open(wire::OpenMessage::make(65000, 9, 0xC0000201, default_caps()))), ec);
    return s;
  };
  for (int restart = 0; restart < 3; ++restart) {
    auto s = call();
    expect<wire::OpenMessage>(s);
    asio::write(s, asio::buffer(wire::encode_keepalive()));
    expect<wire::Keepalive>(s);
    eventually([&] { return status().state == State::Established; });
    ASSERT_EQ(status().state, State::Established) << restart;
    s.close();  // the router reboots
    eventually([&] { return status().state == State::Idle; });
    EXPECT_FALSE(status().damped_until.has_value());
  }
  EXPECT_EQ(status().established_count, 3u);
  // Now the router sends a malformed UPDATE: vaned answers 3/1 and damps its calls.
  auto s = call();
  expect<wire::OpenMessage>(s);
  asio::write(s, asio::buffer(wire::encode_keepalive()));
  expect<wire::Keepalive>(s);
  std::vector<uint8_t> bad(16, 0xff);
  bad.insert(bad.end(), {0, 27, 2, 0, 0, 0, 200, 0x40, 1, 1, 0});
  asio::write(s, asio::buffer(bad));
  EXPECT_EQ(expect<wire::Notification>(s).code, 3);
  eventually([&] { return status().state == State::Idle; });
  EXPECT_TRUE(status().damped_until.has_value());
  auto refused = call();
  std::array<uint8_t, 19> buf;
  boost::system::error_code ec;
  asio::read(refused, asio::buffer(buf), ec);
  EXPECT_TRUE(ec) << "a damped router's call was answered";
  EXPECT_EQ(status().state, State::Idle);
}

TEST_F(ScriptedPeer, ListenersFollowTheConfigAndABindFailureChangesNothing) {
  uint16_t a = unused_port(), b = unused_port();
  on_io([&] {
    speaker_ =
        std::make_unique<Speaker>(io_, SpeakerOptions{.listen = {*IpAddress::parse("127.0.0.1")}, .listen_port = a});
    ASSERT_TRUE(speaker_->start().empty());
  });
  ASSERT_TRUE(tcp_connects(a));
  // Port b taken by someone else: refused, and the listener on a stays.
  asio::io_context other;
  tcp::acceptor squatter(other, {asio::ip::make_address("127.0.0.1"), b});
  std::expected<void, std::string> r;
  on_io([&] { r = speaker_->apply_listeners({*IpAddress::parse("127.0.0.1")}, b); });
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find(std::to_string(b)), std::string::npos) << r.error();
  EXPECT_TRUE(tcp_connects(a));
  squatter.close();
  on_io([&] { r = speaker_->apply_listeners({*IpAddress::parse("127.0.0.1")}, b); });
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_TRUE(tcp_connects(b));
  EXPECT_FALSE(tcp_connects(a));
  on_io([&] { r = speaker_->apply_listeners({}, b); });
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(tcp_connects(b));
}

// A reload opens first and closes in its commit: undoing the open closes only what it opened, so
// the old listener never has to be bound again (another process may have taken its port).
TEST_F(ScriptedPeer, OpeningWithoutClosingIsUndoneByClosingOnlyWhatItOpened) {
  uint16_t a = unused_port(), b = unused_port();
  const auto lo = *IpAddress::parse("127.0.0.1");
  on_io([&] {
    speaker_ = std::make_unique<Speaker>(io_, SpeakerOptions{.listen = {lo}, .listen_port = a});
    ASSERT_TRUE(speaker_->start().empty());
  });
  std::expected<void, std::string> r;
  on_io([&] { r = speaker_->apply_listeners({lo}, b, /*close_unwanted=*/false); });
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_TRUE(tcp_connects(a)) << "the old listener stays open until the commit";
  EXPECT_TRUE(tcp_connects(b));
  // Undo: back to the old set; nothing needs binding.
  on_io([&] { r = speaker_->apply_listeners({lo}, a); });
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_TRUE(tcp_connects(a));
  EXPECT_FALSE(tcp_connects(b));
  // Commit instead: only closes.
  on_io([&] { r = speaker_->apply_listeners({lo}, b, /*close_unwanted=*/false); });
  ASSERT_TRUE(r.has_value()) << r.error();
  on_io([&] { r = speaker_->apply_listeners({lo}, b); });
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_FALSE(tcp_connects(a));
  EXPECT_TRUE(tcp_connects(b));
}

// The kernel drops an unsigned SYN from an address the listener holds a key for; once the
// neighbour is removed its key goes, and the SYN is answered (the speaker then closes the
// connection of an unconfigured peer itself).
TEST_F(ScriptedPeer, ARemovedNeighboursKeyIsClearedFromTheListener) {
  uint16_t listen = unused_port();
  on_io([&] {
    speaker_ = std::make_unique<Speaker>(
        io_, SpeakerOptions{.listen = {*IpAddress::parse("127.0.0.1")}, .listen_port = listen});
    ASSERT_TRUE(speaker_->start().empty());
    auto c = neighbor();
    c.passive = true;
    c.md5_key = "rotate me";
    speaker_->add_neighbor(c);
  });
  EXPECT_FALSE(tcp_connects(listen));
  on_io([&] { speaker_->remove_neighbor("peer"); });
  EXPECT_TRUE(tcp_connects(listen));
  // Added again by a reload: the key is back on the listener.
  on_io([&] {
    auto c = neighbor();
    c.passive = true;
    c.md5_key = "rotated";
    speaker_->add_neighbor(c);
  });
  EXPECT_FALSE(tcp_connects(listen));
}

}  // namespace
}  // namespace vane::bgp

namespace vane::bgp {
namespace {

// The router on IPv6 loopback, and a neighbour with no IPv4 next hop that offers RFC 8950: IPv4
// routes can only go with the session's IPv6 address as next hop.
class ScriptedPeer6 : public ScriptedPeer {
 protected:
  void SetUp() override {
    ScriptedPeer::SetUp();
    acceptor_.close();
    acceptor_.open(tcp::v6());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind({asio::ip::make_address("::1"), 0});
    acceptor_.listen();
  }
  NeighborConfig neighbor6() {
    NeighborConfig c = neighbor();
    c.address = *IpAddress::parse("::1");
    c.port = acceptor_.local_endpoint().port();
    c.next_hop.reset();
    c.extended_next_hop = true;
    return c;
  }
  static wire::Capabilities v4_over_v6_caps() {
    wire::Capabilities c = default_caps();
    c.extended_next_hop = {wire::kIpv4OverIpv6};
    return c;
  }
  // The next UPDATE, decoded as a receiver that takes IPv4 routes with IPv6 next hops.
  wire::Update next_update(tcp::socket& s) {
    wire::DecodeContext ctx;
    ctx.ipv4_over_ipv6 = true;
    for (int i = 0; i < 20; ++i) {
      kept_.push_back(read_message(s));
      auto m = wire::decode_message(kept_.back(), ctx);
      EXPECT_TRUE(m.has_value());
      if (!m) break;
      if (auto* u = std::get_if<wire::Update>(&*m)) return *u;
    }
    ADD_FAILURE() << "no UPDATE";
    return {};
  }
};

// A session's attribute sets depend on what it negotiated: the routes a session without RFC 8950
// could not carry go out on the next session, which has it (the sets are not kept across sessions).
TEST_F(ScriptedPeer6, ANewSessionThatNegotiatedRfc8950AnnouncesWhatTheLastOneCouldNot) {
  on_io([&] {
    speaker_->add_neighbor(neighbor6());
    speaker_->set_exports(one_prefix(50));
    speaker_->set_exports_ready();
  });
  {
    auto s = accept_session();  // the router does not take IPv6 next hops on IPv4 routes
    auto u = next_update(s);
    EXPECT_TRUE(u.end_of_rib.has_value());  // nothing to announce the IPv4 VIPs with
  }                                         // the router goes away
  eventually([&] { return status().state != State::Established; });
  auto s = accept_session(v4_over_v6_caps());
  auto u = next_update(s);
  ASSERT_TRUE(u.mp_reach.has_value());
  EXPECT_EQ(u.mp_reach->afi_safi, wire::kIpv4Unicast);
  EXPECT_EQ(u.attrs.mp_next_hop, IpAddress::parse("::1"));
  std::vector<wire::WirePrefix> got;
  u.for_each_announced([&](const wire::WirePrefix& p) { got.push_back(p); });
  EXPECT_EQ(got.size(), 2u);
  EXPECT_TRUE(status().extended_next_hop_sent);
  EXPECT_TRUE(status().extended_next_hop_received);  // vaned advertised it as well
}

// RFC 8950 one way: vaned advertised it and the router did not, yet the router may send IPv4
// routes with an IPv6 next hop (the capability says what its sender receives); vaned sends none.
TEST_F(ScriptedPeer6, RoutesWithIpv6NextHopsAreAcceptedWhenOnlyVanedAdvertisedIt) {
  on_io([&] {
    speaker_->add_neighbor(neighbor6());
    speaker_->set_exports(one_prefix(50));
    speaker_->set_exports_ready();
  });
  auto s = accept_session();
  EXPECT_TRUE(next_update(s).end_of_rib.has_value());  // nothing of ours goes that way
  wire::PathAttributes a;
  a.as_path = wire::AsPath::sequence({65000});
  a.mp_next_hop = IpAddress::parse("2001:db8::1");
  a.mp_link_local = IpAddress::parse("fe80::1");
  wire::EncodeContext ctx;
  ctx.ipv4_over_ipv6 = true;
  std::vector<uint8_t> out;
  ASSERT_TRUE(wire::encode_announce(a, v4_routes(2), ctx, out).has_value());
  asio::write(s, asio::buffer(out));
  eventually([&] { return status().prefixes_received == 2; });
  EXPECT_EQ(status().prefixes_received, 2u);
  EXPECT_EQ(status().state, State::Established);
  EXPECT_TRUE(status().extended_next_hop_received);
  EXPECT_FALSE(status().extended_next_hop_sent);
}

// The router offers RFC 8950 but the neighbour has extended_next_hop off: IPv4 routes without an
// IPv4 next hop are not sent with the IPv6 one.
TEST_F(ScriptedPeer6, NothingGoesWithAnIpv6NextHopWhenTheNeighbourHasItOff) {
  on_io([&] {
    auto c = neighbor6();
    c.extended_next_hop = false;
    speaker_->add_neighbor(c);
    speaker_->set_exports(one_prefix(50));
    speaker_->set_exports_ready();
  });
  auto s = accept_session(v4_over_v6_caps());
  EXPECT_TRUE(next_update(s).end_of_rib.has_value());
  EXPECT_FALSE(status().extended_next_hop_sent);
  EXPECT_FALSE(status().extended_next_hop_received);
}

}  // namespace
}  // namespace vane::bgp
