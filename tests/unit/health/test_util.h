#pragma once
// Helpers shared by the health tests: a hand-driven clock, an io_context runner, loopback servers.
#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "health/probe.h"
#include "health/types.h"

namespace vane::health::test {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class FakeClock final : public Clock {
 public:
  TimePoint now() const override { return now_; }
  void advance(std::chrono::steady_clock::duration d) { now_ += d; }
  void set(TimePoint t) { now_ = t; }

 private:
  TimePoint now_ = TimePoint{} + std::chrono::hours(1);
};

// Runs `io` until `done()` or `limit` (real time) passes; returns done().
inline bool run_until(asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < end) {
    io.restart();
    io.run_for(5ms);
  }
  return done();
}

// Starts `spec` and runs `io` until its result (generous limit: these are not timing tests).
inline std::optional<Result> probe_once(asio::io_context& io, const ProbeSpec& spec) {
  std::optional<Result> out;
  auto p = start_probe(io, spec, [&](Result r) { out = std::move(r); });
  run_until(
      io, [&] { return out.has_value(); }, 20s);
  return out;
}

inline ProbeSpec loopback_spec(std::chrono::milliseconds timeout = 5000ms) {
  ProbeSpec s;
  s.address = asio::ip::make_address("127.0.0.1");
  s.timeout = timeout;
  return s;
}

// Accepts TCP connections on 127.0.0.1 (or ::1) port 0 and hands each to `on_accept`.
class TcpServer {
 public:
  using Handler = std::function<void(std::shared_ptr<asio::ip::tcp::socket>)>;
  TcpServer(asio::io_context& io, Handler on_accept, const char* address = "127.0.0.1")
      : io_(io), acceptor_(io, {asio::ip::make_address(address), 0}), on_accept_(std::move(on_accept)) {
    accept();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int accepted() const { return accepted_; }

 private:
  void accept() {
    auto sock = std::make_shared<asio::ip::tcp::socket>(io_);
    acceptor_.async_accept(*sock, [this, sock](boost::system::error_code ec) {
      if (ec) return;
      ++accepted_;
      on_accept_(sock);
      accept();
    });
  }
  asio::io_context& io_;
  asio::ip::tcp::acceptor acceptor_;
  Handler on_accept_;
  int accepted_ = 0;
};

// A tiny HTTP server: reads the request head, records it, sends `response` and closes.
class HttpServer {
 public:
  HttpServer(asio::io_context& io, std::string response)
      : response_(std::move(response)),
        server_(io, [this](std::shared_ptr<asio::ip::tcp::socket> s) { serve(std::move(s)); }) {}
  uint16_t port() const { return server_.port(); }
  std::vector<std::string> requests;

 private:
  void serve(std::shared_ptr<asio::ip::tcp::socket> s) {
    auto buf = std::make_shared<asio::streambuf>();
    asio::async_read_until(*s, *buf, "\r\n\r\n", [this, s, buf](boost::system::error_code ec, size_t n) {
      if (ec) return;
      requests.emplace_back(asio::buffers_begin(buf->data()), asio::buffers_begin(buf->data()) + n);
      asio::async_write(*s, asio::buffer(response_), [s](boost::system::error_code, size_t) {
        boost::system::error_code ignored;
        s->shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        s->close(ignored);
      });
    });
  }
  std::string response_;
  TcpServer server_;
};

// An agent: sends `line` on every connection and closes.
class AgentServer {
 public:
  AgentServer(asio::io_context& io, std::string line)
      : line_(std::move(line)), server_(io, [this](std::shared_ptr<asio::ip::tcp::socket> s) {
          asio::async_write(*s, asio::buffer(line_), [s](boost::system::error_code, size_t) {
            boost::system::error_code ignored;
            s->close(ignored);
          });
        }) {}
  uint16_t port() const { return server_.port(); }
  void set_line(std::string l) { line_ = std::move(l); }

 private:
  std::string line_;
  TcpServer server_;
};

// A UDP "DNS server": answers each query with `rcode`, echoing ID and question. With
// `decoy_first`, it first sends a reply with a different ID, which the probe must ignore.
class DnsResponder {
 public:
  DnsResponder(asio::io_context& io, uint8_t rcode, bool silent = false, bool decoy_first = false)
      : socket_(io, {asio::ip::make_address("127.0.0.1"), 0}), rcode_(rcode), silent_(silent), decoy_(decoy_first) {
    receive();
  }
  uint16_t port() const { return socket_.local_endpoint().port(); }
  int queries = 0;
  std::vector<uint8_t> last_query;

 private:
  void receive() {
    socket_.async_receive_from(asio::buffer(rx_), peer_, [this](boost::system::error_code ec, size_t n) {
      if (ec) return;
      ++queries;
      last_query.assign(rx_.begin(), rx_.begin() + static_cast<long>(n));
      if (!silent_ && n >= 12) {
        std::vector<uint8_t> reply(rx_.begin(), rx_.begin() + static_cast<long>(n));
        reply[2] = static_cast<uint8_t>(reply[2] | 0x80);  // QR
        reply[3] = static_cast<uint8_t>((reply[3] & 0xf0) | (rcode_ & 0x0f));
        if (decoy_) {
          auto decoy = reply;
          decoy[0] ^= 0x55;
          decoy[3] = static_cast<uint8_t>(decoy[3] & 0xf0);  // would pass if it were accepted
          socket_.send_to(asio::buffer(decoy), peer_);
        }
        socket_.send_to(asio::buffer(reply), peer_);
      }
      receive();
    });
  }
  asio::ip::udp::socket socket_;
  asio::ip::udp::endpoint peer_;
  std::array<uint8_t, 1500> rx_;
  uint8_t rcode_;
  bool silent_, decoy_;
};

// A port on 127.0.0.1 that nothing listens on (bound, then released).
inline uint16_t closed_tcp_port(asio::io_context& io) {
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  const uint16_t p = a.local_endpoint().port();
  a.close();
  return p;
}

}  // namespace vane::health::test
