#include "control/metrics_http.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "control/test_support.h"

namespace vane::metrics {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

TEST(ParseListen, LoopbackOnly) {
  auto ep = parse_listen("127.0.0.1:9273");
  ASSERT_TRUE(ep) << ep.error();
  EXPECT_EQ(ep->address().to_string(), "127.0.0.1");
  EXPECT_EQ(ep->port(), 9273);
  ep = parse_listen("[::1]:0");
  ASSERT_TRUE(ep) << ep.error();
  EXPECT_TRUE(ep->address().is_v6());
  EXPECT_TRUE(parse_listen("127.1.2.3:80"));

  EXPECT_FALSE(parse_listen("0.0.0.0:9273"));
  EXPECT_FALSE(parse_listen("192.0.2.1:9273"));
  EXPECT_FALSE(parse_listen("[::]:9273"));
  EXPECT_FALSE(parse_listen("::1:9273"));
  EXPECT_FALSE(parse_listen("127.0.0.1"));
  EXPECT_FALSE(parse_listen("127.0.0.1:"));
  EXPECT_FALSE(parse_listen("127.0.0.1:65536"));
  EXPECT_FALSE(parse_listen("127.0.0.1:9x"));
  EXPECT_FALSE(parse_listen("localhost:9273"));
  EXPECT_FALSE(parse_listen("[::1:9273"));
  EXPECT_FALSE(parse_listen(":9273"));
  EXPECT_FALSE(parse_listen(""));
}

class MetricsHttpTest : public ::testing::Test {
 protected:
  void SetUp() override { io_.start(); }
  void TearDown() override {
    io_.run([&] {
      server_.reset();
      return 0;
    });
    io_.stop();
  }

  void start(HttpServerOptions opts = {}) {
    opts.listen = "127.0.0.1:0";
    server_ = std::make_unique<HttpServer>(io_.io, opts, [this](Registry& reg) {
      ++collects_;
      if (fail_) throw std::runtime_error("collector broke");
      reg.gauge("vane_up", "Whether vaned runs.").set(1);
      reg.counter("vane_scrapes_seen_total", "Scrapes.").set({{"who", "test"}}, collects_);
    });
    auto ok = io_.run([&] { return server_->start(); });
    ASSERT_TRUE(ok) << ok.error();
    port_ = io_.run([&] { return server_->local_endpoint().port(); });
    ASSERT_NE(port_, 0);
  }

  http::response<http::string_body> request(http::verb verb, std::string target, bool keep_alive = false,
                                            tcp::socket* reuse = nullptr) {
    asio::io_context io;
    tcp::socket sock(io);
    tcp::socket& s = reuse ? *reuse : sock;
    if (!reuse) s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    http::request<http::empty_body> req{verb, target, 11};
    req.set(http::field::host, "localhost");
    req.keep_alive(keep_alive);
    http::write(s, req);
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    // A HEAD response announces a length it does not send.
    parser.skip(verb == http::verb::head);
    http::read(s, buf, parser);
    return parser.release();
  }

  testing::IoThread io_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
  std::atomic<int> collects_{0};
  std::atomic<bool> fail_{false};
};

TEST_F(MetricsHttpTest, GetMetrics) {
  start();
  auto res = request(http::verb::get, "/metrics");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(std::string(res[http::field::content_type]), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(res.body(),
            "# HELP vane_up Whether vaned runs.\n"
            "# TYPE vane_up gauge\n"
            "vane_up 1\n"
            "# HELP vane_scrapes_seen_total Scrapes.\n"
            "# TYPE vane_scrapes_seen_total counter\n"
            "vane_scrapes_seen_total{who=\"test\"} 1\n");
  // Collected afresh on every scrape; query strings are ignored.
  res = request(http::verb::get, "/metrics?x=1");
  EXPECT_NE(res.body().find("vane_scrapes_seen_total{who=\"test\"} 2\n"), std::string::npos);
  EXPECT_EQ(io_.run([&] { return server_->scrapes(); }), 2u);
}

TEST_F(MetricsHttpTest, KeepAlive) {
  start();
  asio::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  for (int i = 0; i < 3; ++i) {
    auto res = request(http::verb::get, "/metrics", true, &s);
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_TRUE(res.keep_alive());
  }
  EXPECT_EQ(collects_, 3);
}

TEST_F(MetricsHttpTest, OtherPathsAndMethods) {
  start();
  EXPECT_EQ(request(http::verb::get, "/").result(), http::status::not_found);
  EXPECT_EQ(request(http::verb::get, "/metricsx").result(), http::status::not_found);
  auto res = request(http::verb::post, "/metrics");
  EXPECT_EQ(res.result(), http::status::method_not_allowed);
  EXPECT_EQ(std::string(res[http::field::allow]), "GET, HEAD");
  res = request(http::verb::head, "/metrics");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_TRUE(res.body().empty());
  EXPECT_NE(std::string(res[http::field::content_length]), "0");
}

TEST_F(MetricsHttpTest, CollectorFailureIs500) {
  start();
  fail_ = true;
  EXPECT_EQ(request(http::verb::get, "/metrics").result(), http::status::internal_server_error);
  fail_ = false;
  EXPECT_EQ(request(http::verb::get, "/metrics").result(), http::status::ok);
}

TEST_F(MetricsHttpTest, OversizedRequestIsRefused) {
  HttpServerOptions opts;
  opts.max_request_size = 1024;
  start(opts);
  asio::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  const std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n";
  boost::system::error_code ec;
  asio::write(s, asio::buffer(req), ec);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res, ec);
  // Either a 413 or a closed connection; never a page.
  if (!ec) {
    EXPECT_EQ(res.result(), http::status::payload_too_large);
  }
  EXPECT_EQ(collects_, 0);
}

TEST_F(MetricsHttpTest, StalledClientDoesNotBlockAScrape) {
  HttpServerOptions opts;
  opts.timeout = 300ms;
  start(opts);
  asio::io_context io;
  tcp::socket stalled(io);
  stalled.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  asio::write(stalled, asio::buffer(std::string("GET /met")));
  EXPECT_EQ(request(http::verb::get, "/metrics").result(), http::status::ok);
  // The stalled connection is closed at the deadline.
  char c;
  boost::system::error_code ec;
  const auto t0 = std::chrono::steady_clock::now();
  stalled.read_some(asio::buffer(&c, 1), ec);
  EXPECT_TRUE(ec);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

TEST(MetricsHttp, RefusesNonLoopback) {
  asio::io_context io;
  HttpServer s(io, HttpServerOptions{.listen = "0.0.0.0:0"}, {});
  auto ok = s.start();
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().find("loopback"), std::string::npos) << ok.error();
}

// metrics.allow_remote: any address may be bound, and the start says so in the log.
TEST(MetricsHttp, NonLoopbackWhenAllowedWithAWarning) {
  EXPECT_TRUE(parse_listen("0.0.0.0:9273", true));
  EXPECT_TRUE(parse_listen("[::]:9273", true));
  EXPECT_TRUE(parse_listen("192.0.2.1:9273", true));
  EXPECT_FALSE(parse_listen("localhost:9273", true));
  EXPECT_FALSE(parse_listen("192.0.2.1", true));

  std::ostringstream logged;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(logged);
  auto before = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("t", sink));
  asio::io_context io;
  HttpServer s(io, HttpServerOptions{.listen = "0.0.0.0:0", .allow_remote = true},
               [](Registry& r) { r.gauge("vane_up", "Whether vaned runs.").set(1); });
  auto ok = s.start();
  spdlog::set_default_logger(before);
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_TRUE(s.local_endpoint().address().is_unspecified());
  EXPECT_NE(logged.str().find("not a loopback address"), std::string::npos) << logged.str();
  s.stop();

  // Loopback with allow_remote set: nothing to warn about.
  logged.str("");
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("t", sink));
  HttpServer l(io, HttpServerOptions{.listen = "127.0.0.1:0", .allow_remote = true}, {});
  ok = l.start();
  spdlog::set_default_logger(before);
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(logged.str().find("not a loopback address"), std::string::npos) << logged.str();
  l.stop();
}

}  // namespace
}  // namespace vane::metrics
