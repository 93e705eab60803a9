// DNS over UDP: one query with a random ID, the reply's RCODE compared with the expected one.
#include <sys/random.h>

#include <array>
#include <random>

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "health/probe.h"
#include "health/wire.h"

namespace vane::health {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// An unpredictable ID (with the kernel's random source port) is what keeps an off-path host from
// answering for the server; fall back to std::random_device only if getrandom is unavailable.
uint16_t random_id() {
  uint16_t id = 0;
  if (getrandom(&id, sizeof id, 0) == static_cast<ssize_t>(sizeof id)) return id;
  std::random_device rd;
  return static_cast<uint16_t>(rd());
}

class DnsProbe final : public Probe, public std::enable_shared_from_this<DnsProbe> {
 public:
  DnsProbe(asio::io_context& io, const ProbeSpec& spec, ProbeCallback cb)
      : io_(io),
        socket_(io),
        timer_(io),
        dns_(std::get<DnsSpec>(spec.kind)),
        endpoint_(spec.address, dns_.port),
        source_(spec.source),
        timeout_(spec.timeout),
        cb_(std::move(cb)) {}

  void begin() {
    start_ = std::chrono::steady_clock::now();
    auto q = encode_dns_query(random_id(), dns_.query_name, dns_.qtype);
    if (!q) {
      asio::post(io_, [self = shared_from_this(), why = q.error()] { self->finish(false, why); });
      return;
    }
    query_ = std::move(*q);
    error_code ec;
    socket_.open(endpoint_.protocol(), ec);
    if (!ec && source_) socket_.bind({*source_, 0}, ec);
    // A connected UDP socket only hears from the server, and an ICMP port unreachable comes back
    // as connection_refused instead of a silent timeout.
    if (!ec) socket_.connect(endpoint_, ec);
    if (ec) {
      asio::post(io_, [self = shared_from_this(), ec] { self->finish(false, "socket setup: " + ec.message()); });
      return;
    }
    timer_.expires_after(timeout_);
    timer_.async_wait([self = shared_from_this()](error_code e) {
      if (!e)
        self->finish(false, "timed out after " + std::to_string(self->timeout_.count()) + " ms waiting for a reply");
    });
    socket_.async_send(asio::buffer(query_), [self = shared_from_this()](error_code e, size_t) {
      if (self->done_) return;
      if (e) return self->finish(false, "send: " + e.message());
      self->receive();
    });
  }

  void cancel() override {
    if (done_) return;
    done_ = true;
    cb_ = nullptr;
    close();
  }

 private:
  void receive() {
    socket_.async_receive(asio::buffer(rx_), [self = shared_from_this()](error_code e, size_t n) {
      if (self->done_) return;
      if (e) return self->finish(false, "receive: " + e.message());
      auto reply = match_dns_reply(std::span<const uint8_t>(self->rx_.data(), n), self->query_);
      if (!reply) return self->receive();  // not our reply: keep listening until the timeout
      const bool ok = reply->rcode == self->dns_.expect_rcode;
      std::string detail = "rcode " + dns_rcode_name(reply->rcode);
      if (!ok) detail += ", expected " + dns_rcode_name(self->dns_.expect_rcode);
      detail += ", " + std::to_string(reply->answers) + " answers";
      if (reply->truncated) detail += ", truncated";
      self->finish(ok, std::move(detail));
    });
  }

  void finish(bool ok, std::string detail) {
    if (done_) return;
    done_ = true;
    close();
    Result r;
    r.ok = ok;
    r.latency = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start_);
    r.detail = std::move(detail);
    auto cb = std::move(cb_);
    if (cb) cb(std::move(r));
  }

  void close() {
    error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

  asio::io_context& io_;
  asio::ip::udp::socket socket_;
  asio::steady_timer timer_;
  DnsSpec dns_;
  asio::ip::udp::endpoint endpoint_;
  std::optional<asio::ip::address> source_;
  std::chrono::milliseconds timeout_;
  ProbeCallback cb_;
  std::vector<uint8_t> query_;
  std::array<uint8_t, kDnsMaxReply> rx_;
  std::chrono::steady_clock::time_point start_;
  bool done_ = false;
};

}  // namespace

std::shared_ptr<Probe> start_dns_probe(asio::io_context& io, const ProbeSpec& spec, ProbeCallback cb) {
  auto p = std::make_shared<DnsProbe>(io, spec, std::move(cb));
  p->begin();
  return p;
}

}  // namespace vane::health
