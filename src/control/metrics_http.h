#pragma once
// GET /metrics over HTTP/1.1 (Boost.Beast) on the daemon's io_context, loopback only: the page is
// built on the io_context thread, so the collect callback reads protocol state without locks.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "control/metrics.h"

namespace vane::metrics {

struct HttpServerOptions {
  // "HOST:PORT" as in the config file's metrics.listen, e.g. "127.0.0.1:9273" or "[::1]:9273";
  // the host must be a loopback address. Port 0 picks a free port (see local_endpoint()).
  std::string listen = "127.0.0.1:9273";
  // Accept a non-loopback host (config metrics.allow_remote); start() logs a warning then.
  bool allow_remote = false;
  // Deadline for reading one request and for writing one response.
  std::chrono::milliseconds timeout{5000};
  // Upper bound on a request's header and on its body.
  std::size_t max_request_size = 8 * 1024;
  // Connections beyond this are closed at once.
  std::size_t max_connections = 16;
};

// Parses "HOST:PORT" (IPv6 in brackets) and insists on a loopback address unless allow_remote.
std::expected<boost::asio::ip::tcp::endpoint, std::string> parse_listen(std::string_view listen,
                                                                        bool allow_remote = false);

class HttpServer {
 public:
  // Fills the (fresh, empty) registry for one scrape; runs on the io_context.
  using Collect = std::function<void(Registry&)>;

  HttpServer(boost::asio::io_context& io, HttpServerOptions opts, Collect collect);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts accepting. Call on the io_context's thread (or before it runs).
  std::expected<void, std::string> start();
  // Closes the listener and every connection. Idempotent.
  void stop();
  // The bound address, with the real port when listen asked for port 0.
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  uint64_t scrapes() const;

  // Shared with the connections, which may outlive the object by a few completion handlers.
  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace vane::metrics
