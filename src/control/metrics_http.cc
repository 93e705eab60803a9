#include "control/metrics_http.h"

#include <spdlog/spdlog.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <optional>
#include <unordered_set>

namespace vane::metrics {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

std::expected<tcp::endpoint, std::string> parse_listen(std::string_view listen, bool allow_remote) {
  const auto colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return std::unexpected("\"" + std::string(listen) + "\": expected HOST:PORT");
  std::string_view host = listen.substr(0, colon);
  const std::string_view port_s = listen.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 2 || host.back() != ']')
      return std::unexpected("\"" + std::string(listen) + "\": unbalanced brackets");
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return std::unexpected("\"" + std::string(listen) + "\": IPv6 addresses go in brackets, e.g. [::1]:9273");
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_s.data(), port_s.data() + port_s.size(), port);
  if (port_s.empty() || ec != std::errc() || end != port_s.data() + port_s.size() || port > 65535) {
    return std::unexpected("\"" + std::string(listen) + "\": invalid port");
  }
  error_code aec;
  const auto addr = asio::ip::make_address(std::string(host), aec);
  if (aec) return std::unexpected("\"" + std::string(listen) + "\": invalid address");
  // The page has no authentication; only local scrapers (or a local proxy) may see it.
  if (!addr.is_loopback() && !allow_remote)
    return std::unexpected("\"" + std::string(listen) + "\": not a loopback address");
  return tcp::endpoint(addr, static_cast<uint16_t>(port));
}

namespace {
class Session;
}

struct HttpServer::State : std::enable_shared_from_this<HttpServer::State> {
  State(asio::io_context& io, HttpServerOptions o, Collect c)
      : io(io), opts(std::move(o)), collect(std::move(c)), acceptor(io), retry(io) {}
  void accept();

  asio::io_context& io;
  HttpServerOptions opts;
  Collect collect;
  tcp::acceptor acceptor;
  asio::steady_timer retry;
  std::unordered_set<Session*> sessions;
  bool running = false;
  uint64_t scrapes = 0;
  tcp::endpoint bound;
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<HttpServer::State> st, tcp::socket sock)
      : st_(std::move(st)), stream_(std::move(sock)), buffer_(st_->opts.max_request_size) {
    st_->sessions.insert(this);
  }
  ~Session() { st_->sessions.erase(this); }

  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(st_->opts.max_request_size));
    parser_->body_limit(st_->opts.max_request_size);
    stream_.expires_after(st_->opts.timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](const error_code& ec, size_t) { self->on_read(ec); });
  }

  void close() {
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

 private:
  void on_read(const error_code& ec) {
    if (ec == http::error::header_limit || ec == http::error::body_limit || ec == http::error::buffer_overflow) {
      return respond(error_page(http::status::payload_too_large, "request too large\n", 11), false);
    }
    // Anything else (EOF, timeout, garbage) ends the connection without ceremony.
    if (ec) return close();
    const auto& req = parser_->get();
    const bool keep = req.keep_alive();
    respond(handle(req), keep);
  }

  static http::response<http::string_body> error_page(http::status status, std::string body, unsigned version) {
    http::response<http::string_body> res{status, version};
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = std::move(body);
    return res;
  }

  http::response<http::string_body> handle(const http::request<http::string_body>& req) {
    std::string_view target(req.target().data(), req.target().size());
    // Scrapers may append parameters (e.g. a module name); this page has none to honour.
    target = target.substr(0, target.find('?'));
    if (target != "/metrics") return error_page(http::status::not_found, "not found; try /metrics\n", req.version());
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      auto res = error_page(http::status::method_not_allowed, "method not allowed\n", req.version());
      res.set(http::field::allow, "GET, HEAD");
      return res;
    }
    Registry reg;
    http::response<http::string_body> res{http::status::ok, req.version()};
    try {
      if (st_->collect) st_->collect(reg);
    } catch (const std::exception& e) {
      spdlog::error("metrics: collecting failed: {}", e.what());
      return error_page(http::status::internal_server_error, "collecting metrics failed\n", req.version());
    }
    for (const auto& e : reg.errors()) spdlog::warn("metrics: {}", e);
    ++st_->scrapes;
    res.set(http::field::content_type, beast::string_view(kContentType.data(), kContentType.size()));
    res.body() = reg.render();
    if (req.method() == http::verb::head) {
      res.content_length(res.body().size());
      res.body().clear();
      head_ = true;
    }
    return res;
  }

  void respond(http::response<http::string_body> res, bool keep) {
    res_ = std::move(res);
    res_.set(http::field::server, "vaned");
    res_.keep_alive(keep);
    if (!head_) res_.prepare_payload();
    head_ = false;
    stream_.expires_after(st_->opts.timeout);
    http::async_write(stream_, res_, [self = shared_from_this(), keep](const error_code& ec, size_t) {
      if (ec || !keep) return self->close();
      self->read();
    });
  }

  std::shared_ptr<HttpServer::State> st_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  bool head_ = false;
};

}  // namespace

void HttpServer::State::accept() {
  if (!running) return;
  acceptor.async_accept([self = shared_from_this()](const error_code& ec, tcp::socket sock) {
    if (!self->running) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      spdlog::warn("metrics: accept: {}", ec.message());
      self->retry.expires_after(std::chrono::milliseconds(200));
      self->retry.async_wait([self](const error_code& e) {
        if (!e) self->accept();
      });
      return;
    }
    if (self->sessions.size() >= self->opts.max_connections) {
      error_code ignored;
      sock.close(ignored);
    } else {
      std::make_shared<Session>(self, std::move(sock))->read();
    }
    self->accept();
  });
}

HttpServer::HttpServer(asio::io_context& io, HttpServerOptions opts, Collect collect)
    : state_(std::make_shared<State>(io, std::move(opts), std::move(collect))) {}

HttpServer::~HttpServer() {
  stop();
}

std::expected<void, std::string> HttpServer::start() {
  auto& st = *state_;
  if (st.running) return std::unexpected("metrics server already started");
  auto ep = parse_listen(st.opts.listen, st.opts.allow_remote);
  if (!ep) return std::unexpected("metrics listen " + ep.error());
  if (!ep->address().is_loopback())
    spdlog::warn(
        "metrics on {}: not a loopback address (metrics.allow_remote): the page has no authentication, "
        "only a firewall keeps it to the scrapers",
        st.opts.listen);
  error_code ec;
  auto fail = [&](std::string_view what) -> std::expected<void, std::string> {
    error_code ignored;
    st.acceptor.close(ignored);
    return std::unexpected("metrics listen " + st.opts.listen + ": " + std::string(what) + ": " + ec.message());
  };
  st.acceptor.open(ep->protocol(), ec);
  if (ec) return fail("socket");
  st.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("SO_REUSEADDR");
  st.acceptor.bind(*ep, ec);
  if (ec) return fail("bind");
  st.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  st.bound = st.acceptor.local_endpoint(ec);
  st.running = true;
  st.accept();
  spdlog::info("metrics: serving http://{}/metrics",
               st.opts.listen.ends_with(":0") ? st.bound.address().to_string() + ":" + std::to_string(st.bound.port())
                                              : st.opts.listen);
  return {};
}

void HttpServer::stop() {
  auto& st = *state_;
  st.running = false;
  error_code ec;
  st.acceptor.close(ec);
  st.retry.cancel();
  for (Session* s : st.sessions) s->close();
}

tcp::endpoint HttpServer::local_endpoint() const {
  return state_->bound;
}
uint64_t HttpServer::scrapes() const {
  return state_->scrapes;
}

}  // namespace vane::metrics
