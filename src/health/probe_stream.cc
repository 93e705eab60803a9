// TCP-based probes: plain connect, HTTP GET, HAProxy agent.
#include <algorithm>
#include <array>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "health/probe.h"
#include "health/wire.h"

namespace vane::health {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// Remote text goes into logs and vanectl output: keep it printable and short.
std::string printable(std::string_view s, size_t max = 200) {
  std::string out;
  for (char c : s.substr(0, max)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > max) out += "...";
  return out;
}

class StreamProbe : public Probe, public std::enable_shared_from_this<StreamProbe> {
 public:
  StreamProbe(asio::io_context& io, const ProbeSpec& spec, uint16_t port, ProbeCallback cb)
      : io_(io),
        socket_(io),
        timer_(io),
        endpoint_(spec.address, port),
        source_(spec.source),
        timeout_(spec.timeout),
        cb_(std::move(cb)) {}

  void begin() {
    start_ = std::chrono::steady_clock::now();
    error_code ec;
    socket_.open(endpoint_.protocol(), ec);
    if (!ec && source_) socket_.bind({*source_, 0}, ec);
    if (ec) {
      // Never call back from inside start_probe(): the caller may not be ready for it.
      asio::post(io_, [self = shared_from_this(), ec] { self->fail("socket setup", ec); });
      return;
    }
    timer_.expires_after(timeout_);
    timer_.async_wait([self = shared_from_this()](error_code e) {
      if (!e) self->finish(false, "timed out after " + std::to_string(self->timeout_.count()) + " ms " + self->phase_);
    });
    phase_ = "connecting";
    socket_.async_connect(endpoint_, [self = shared_from_this()](error_code e) {
      if (self->done_) return;
      if (e) return self->fail("connect", e);
      self->connected();
    });
  }

  void cancel() override {
    if (done_) return;
    done_ = true;
    cb_ = nullptr;
    close();
  }

 protected:
  virtual void connected() = 0;
  // Called after each read with everything read so far in buf_.
  virtual void on_data(bool eof) = 0;

  void read_more() {
    socket_.async_read_some(asio::buffer(chunk_), [self = shared_from_this()](error_code e, size_t n) {
      if (self->done_) return;
      const size_t room = self->limit_ - std::min(self->limit_, self->buf_.size());
      self->buf_.append(self->chunk_.data(), std::min(n, room));
      if (e && e != asio::error::eof) return self->fail("read", e);
      self->on_data(e == asio::error::eof);
    });
  }

  void fail(std::string_view what, const error_code& e) { finish(false, std::string(what) + ": " + e.message()); }

  void finish(bool ok, std::string detail, std::optional<uint32_t> weight = std::nullopt, bool drain = false) {
    if (done_) return;
    done_ = true;
    close();
    Result r;
    r.ok = ok;
    r.latency = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start_);
    r.detail = std::move(detail);
    r.weight = weight;
    r.drain = drain;
    auto cb = std::move(cb_);
    if (cb) cb(std::move(r));
  }

  bool full() const { return buf_.size() >= limit_; }

  asio::io_context& io_;
  asio::ip::tcp::socket socket_;
  std::string buf_;
  size_t limit_ = 0;
  std::string phase_;

 private:
  void close() {
    error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

  asio::steady_timer timer_;
  asio::ip::tcp::endpoint endpoint_;
  std::optional<asio::ip::address> source_;
  std::chrono::milliseconds timeout_;
  ProbeCallback cb_;
  std::chrono::steady_clock::time_point start_;
  std::array<char, 4096> chunk_;
  bool done_ = false;
};

class TcpProbe final : public StreamProbe {
 public:
  using StreamProbe::StreamProbe;

 private:
  void connected() override { finish(true, "connected"); }
  void on_data(bool) override {}
};

class HttpProbe final : public StreamProbe {
 public:
  HttpProbe(asio::io_context& io, const ProbeSpec& spec, const HttpSpec& http, ProbeCallback cb)
      : StreamProbe(io, spec, http.port, std::move(cb)), http_(http) {
    limit_ = kHttpMaxRead;
  }

 private:
  void connected() override {
    // HTTP/1.0 so that no server answers with a chunked body, which a substring match cannot see
    // through; Host and Connection: close keep virtual hosts and HTTP/1.1-only servers happy.
    request_ = "GET " + http_.path + " HTTP/1.0\r\nHost: " + http_.host +
               "\r\nUser-Agent: vane-health\r\nAccept: */*\r\nConnection: close\r\n\r\n";
    phase_ = "sending the request";
    asio::async_write(socket_, asio::buffer(request_),
                      [self = std::static_pointer_cast<HttpProbe>(shared_from_this())](error_code e, size_t) {
                        if (e) return self->fail("write", e);
                        self->phase_ = "waiting for the response";
                        self->read_more();
                      });
  }

  void on_data(bool eof) override {
    const size_t nl = buf_.find('\n');
    if (nl == std::string::npos) {
      if (eof || full()) return finish(false, "no HTTP status line in the response");
      return read_more();
    }
    std::string_view line(buf_.data(), nl);
    if (line.ends_with('\r')) line.remove_suffix(1);
    const auto status = parse_http_status_line(line);
    if (!status) return finish(false, "malformed status line '" + printable(line) + "'");
    const std::string got = "status " + std::to_string(*status);
    if (*status != http_.expect_status) return finish(false, got + ", expected " + std::to_string(http_.expect_status));
    if (http_.expect_body.empty()) return finish(true, got);

    size_t body = buf_.find("\r\n\r\n");
    body = body == std::string::npos ? buf_.find("\n\n") : body + 4;
    if (body == std::string::npos) {
      if (eof || full()) return finish(false, got + ", response headers incomplete");
      return read_more();
    }
    if (buf_.find(http_.expect_body, body) != std::string::npos) return finish(true, got + ", body matched");
    if (eof) return finish(false, got + ", body does not contain '" + printable(http_.expect_body) + "'");
    if (full())
      return finish(false, got + ", body does not contain '" + printable(http_.expect_body) + "' in the first " +
                               std::to_string(kHttpMaxRead) + " bytes");
    read_more();
  }

  HttpSpec http_;
  std::string request_;
};

class AgentProbe final : public StreamProbe {
 public:
  AgentProbe(asio::io_context& io, const ProbeSpec& spec, uint16_t port, ProbeCallback cb)
      : StreamProbe(io, spec, port, std::move(cb)) {
    limit_ = kAgentMaxLine;
  }

 private:
  void connected() override {
    phase_ = "waiting for the agent's reply";
    read_more();
  }

  void on_data(bool eof) override {
    const size_t nl = buf_.find('\n');
    if (nl != std::string::npos) return evaluate(std::string_view(buf_).substr(0, nl));
    if (eof) {
      if (buf_.empty()) return finish(false, "agent closed the connection without a reply");
      return evaluate(buf_);
    }
    if (full()) return finish(false, "agent reply longer than " + std::to_string(kAgentMaxLine) + " bytes");
    read_more();
  }

  void evaluate(std::string_view line) {
    if (line.ends_with('\r')) line.remove_suffix(1);
    auto reply = parse_agent_reply(line);
    if (!reply) return finish(false, printable(reply.error()));
    finish(reply->ok, "agent: " + printable(line), reply->weight, reply->drain);
  }
};

template <class P, class... A>
std::shared_ptr<Probe> launch(A&&... args) {
  auto p = std::make_shared<P>(std::forward<A>(args)...);
  p->begin();
  return p;
}

}  // namespace

std::shared_ptr<Probe> start_tcp_probe(asio::io_context& io, const ProbeSpec& spec, ProbeCallback cb) {
  return launch<TcpProbe>(io, spec, std::get<TcpSpec>(spec.kind).port, std::move(cb));
}

std::shared_ptr<Probe> start_http_probe(asio::io_context& io, const ProbeSpec& spec, ProbeCallback cb) {
  return launch<HttpProbe>(io, spec, std::get<HttpSpec>(spec.kind), std::move(cb));
}

std::shared_ptr<Probe> start_agent_probe(asio::io_context& io, const ProbeSpec& spec, ProbeCallback cb) {
  return launch<AgentProbe>(io, spec, std::get<AgentSpec>(spec.kind).port, std::move(cb));
}

}  // namespace vane::health
