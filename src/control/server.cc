#include "control/server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <optional>
#include <unordered_set>

namespace vane::control {

namespace asio = boost::asio;
using local_stream = asio::local::stream_protocol;
using boost::system::error_code;

bool peer_allowed(uid_t peer_uid, uid_t daemon_euid) {
  return peer_uid == 0 || peer_uid == daemon_euid;
}

namespace {

class Connection;

std::string errno_text(int err) {
  return std::strerror(err);
}

// Whether some process still accepts connections on the socket at `path`.
std::expected<bool, std::string> socket_in_use(const std::filesystem::path& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::unexpected("socket: " + errno_text(errno));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), path.native().size());
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  const int err = errno;
  ::close(fd);
  if (rc == 0) return true;
  if (err == ECONNREFUSED) return false;
  return std::unexpected("probing existing socket: " + errno_text(err));
}

}  // namespace

struct Server::State : std::enable_shared_from_this<Server::State> {
  State(asio::io_context& io, ServerOptions o, Handler h)
      : io(io), opts(std::move(o)), handler(std::move(h)), acceptor(io), retry(io) {}

  void accept();
  void on_accept(const error_code& ec, local_stream::socket sock);
  void refuse(local_stream::socket& sock, const Response& resp);

  asio::io_context& io;
  ServerOptions opts;
  Handler handler;
  local_stream::acceptor acceptor;
  asio::steady_timer retry;  // backs off accept() when out of file descriptors
  std::unordered_set<Connection*> conns;
  ServerStats stats;
  // Read by Reply objects that may be destroyed on another thread.
  std::atomic<bool> running{false};
  bool bound = false;
  dev_t dev = 0;
  ino_t ino = 0;
};

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<Server::State> st, local_stream::socket sock)
      : st_(std::move(st)), sock_(std::move(sock)), timer_(st_->io) {
    st_->conns.insert(this);
  }
  ~Connection() { st_->conns.erase(this); }

  void start() { read_header(); }

  // Sends one response, then either waits for the next request or closes.
  void send(Response resp, bool keep_open) {
    if (closed_) return;
    resp.set_version(kProtocolVersion);
    auto frame = encode_frame(resp, kMaxResponseSize);
    if (!frame) {
      spdlog::error("control: {} response too large to send", command_);
      frame = encode_frame(error_response(ERROR_CODE_INTERNAL, "response exceeds the size limit"), kMaxResponseSize);
    }
    out_ = std::move(*frame);
    arm_deadline();
    asio::async_write(sock_, asio::buffer(out_), [self = shared_from_this(), keep_open](const error_code& ec, size_t) {
      if (ec || !keep_open) {
        self->close();
        return;
      }
      self->read_header();
    });
  }

  // Delivery of a handler's reply, posted to the io_context.
  void deliver(Response resp) {
    if (!awaiting_reply_) return;
    awaiting_reply_ = false;
    send(std::move(resp), true);
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    error_code ec;
    sock_.shutdown(local_stream::socket::shutdown_both, ec);
    sock_.close(ec);
    timer_.cancel();
  }

  Server::State& state() { return *st_; }

 private:
  void arm_deadline() {
    timer_.expires_after(st_->opts.io_timeout);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      // A wait that completed just before being re-armed must not close a healthy connection.
      if (ec || self->closed_ || self->timer_.expiry() > asio::steady_timer::clock_type::now()) return;
      ++self->st_->stats.timeouts;
      spdlog::debug("control: client timed out");
      self->close();
    });
  }
  void disarm_deadline() { timer_.expires_at(asio::steady_timer::time_point::max()); }

  void read_header() {
    if (closed_) return;
    arm_deadline();
    asio::async_read(sock_, asio::buffer(header_),
                     [self = shared_from_this()](const error_code& ec, size_t) { self->on_header(ec); });
  }

  void on_header(const error_code& ec) {
    // EOF between requests is the normal end of a connection.
    if (ec) return close();
    const uint32_t len = get_header(header_);
    if (len > kMaxRequestSize) {
      // The stream cannot be resynchronised without reading the whole body, so answer and hang up.
      ++st_->stats.bad_requests;
      return send(error_response(ERROR_CODE_TOO_LARGE, "request of " + std::to_string(len) + " bytes exceeds " +
                                                           std::to_string(kMaxRequestSize)),
                  false);
    }
    body_.assign(len, '\0');
    if (len == 0) return on_body({});
    asio::async_read(sock_, asio::buffer(body_),
                     [self = shared_from_this()](const error_code& ec, size_t) { self->on_body(ec); });
  }

  void on_body(const error_code& ec);

  std::shared_ptr<Server::State> st_;
  local_stream::socket sock_;
  asio::steady_timer timer_;
  char header_[kHeaderSize] = {};
  std::string body_;
  std::string out_;
  std::string command_ = "request";
  bool closed_ = false;
  bool awaiting_reply_ = false;
};

// Owned by every copy of a Reply: answers once, and answers for the handler if it never does.
class Responder {
 public:
  explicit Responder(std::shared_ptr<Connection> conn) : conn_(std::move(conn)) {}
  // Replies may be dropped on any thread, but a connection must die on the io_context's thread
  // (it unregisters itself from the server), so this reference is always handed back there.
  ~Responder() {
    if (!done_.load() && conn_->state().running.load()) {
      post(error_response(ERROR_CODE_INTERNAL, "the daemon dropped the request without answering"));
    }
    auto& io = conn_->state().io;
    asio::post(io, [c = std::move(conn_)] {});
  }
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  void reply(Response resp) {
    if (done_.exchange(true)) return;
    post(std::move(resp));
  }

 private:
  void post(Response resp) {
    asio::post(conn_->state().io, [c = conn_, r = std::move(resp)]() mutable { c->deliver(std::move(r)); });
  }
  std::shared_ptr<Connection> conn_;
  std::atomic<bool> done_{false};
};

void Connection::on_body(const error_code& ec) {
  // A truncated request has nobody left to answer.
  if (ec) return close();
  auto req = decode_request(body_);
  body_.clear();
  body_.shrink_to_fit();
  if (!req) {
    ++st_->stats.bad_requests;
    spdlog::debug("control: refused request: {}", req.error().error());
    return send(std::move(req.error()), true);
  }
  command_ = std::string(command_name(*req));
  ++st_->stats.requests;
  disarm_deadline();
  awaiting_reply_ = true;
  auto responder = std::make_shared<Responder>(shared_from_this());
  Server::Reply reply = [responder](Response r) { responder->reply(std::move(r)); };
  if (!st_->handler) {
    reply(error_response(ERROR_CODE_UNIMPLEMENTED, "no handler installed"));
    return;
  }
  try {
    st_->handler(*req, reply);
  } catch (const std::exception& e) {
    spdlog::error("control: {} failed: {}", command_, e.what());
    reply(error_response(ERROR_CODE_INTERNAL, std::string("internal error: ") + e.what()));
  }
}

}  // namespace

void Server::State::accept() {
  if (!running) return;
  acceptor.async_accept([self = shared_from_this()](const error_code& ec, local_stream::socket sock) {
    self->on_accept(ec, std::move(sock));
  });
}

void Server::State::refuse(local_stream::socket& sock, const Response& resp) {
  // Best effort and never blocking: the error fits in an empty socket buffer.
  error_code ec;
  sock.non_blocking(true, ec);
  if (auto frame = encode_frame(resp, kMaxResponseSize)) asio::write(sock, asio::buffer(*frame), ec);
  sock.close(ec);
}

void Server::State::on_accept(const error_code& ec, local_stream::socket sock) {
  if (!running) return;
  if (ec) {
    if (ec == asio::error::operation_aborted) return;
    spdlog::warn("control: accept on {}: {}", opts.socket_path.string(), ec.message());
    // Typically EMFILE: pause instead of spinning on an error that persists.
    retry.expires_after(std::chrono::milliseconds(200));
    retry.async_wait([self = shared_from_this()](const error_code& e) {
      if (!e) self->accept();
    });
    return;
  }
  ++stats.accepted;
  if (conns.size() >= opts.max_connections) {
    ++stats.busy;
    spdlog::warn("control: {} connections open; refusing another", conns.size());
    refuse(sock, error_response(ERROR_CODE_BUSY, "too many control connections; retry later"));
    return accept();
  }
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(sock.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred ||
      !peer_allowed(cred.uid, ::geteuid())) {
    ++stats.denied;
    spdlog::warn("control: refused connection from pid {} uid {}", cred.pid, cred.uid);
    refuse(sock, error_response(ERROR_CODE_PERMISSION_DENIED, "permission denied"));
    return accept();
  }
  std::make_shared<Connection>(shared_from_this(), std::move(sock))->start();
  accept();
}

Server::Server(asio::io_context& io, ServerOptions opts, Handler handler)
    : state_(std::make_shared<State>(io, std::move(opts), std::move(handler))) {}

Server::~Server() {
  stop();
}

const std::filesystem::path& Server::socket_path() const {
  return state_->opts.socket_path;
}

ServerStats Server::stats() const {
  ServerStats s = state_->stats;
  s.active = state_->conns.size();
  return s;
}

std::expected<void, std::string> Server::start() {
  auto& st = *state_;
  if (st.running) return std::unexpected("control server already started");
  const auto& path = st.opts.socket_path;
  const std::string where = "control socket " + path.string() + ": ";
  if (path.empty() || !path.has_filename()) return std::unexpected(where + "not a file path");
  if (path.native().size() >= sizeof(sockaddr_un::sun_path)) return std::unexpected(where + "path too long");

  std::error_code fec;
  const auto dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  if (!std::filesystem::exists(dir, fec)) {
    std::filesystem::create_directories(dir, fec);
    if (fec) return std::unexpected(where + "creating " + dir.string() + ": " + fec.message());
    // Explicit because the process umask may have narrowed the default.
    std::filesystem::permissions(dir, std::filesystem::perms(0755), fec);
    if (fec) return std::unexpected(where + "chmod " + dir.string() + ": " + fec.message());
  }

  struct stat sb {};
  if (::lstat(path.c_str(), &sb) == 0) {
    if (!S_ISSOCK(sb.st_mode)) return std::unexpected(where + "exists and is not a socket; refusing to replace it");
    auto in_use = socket_in_use(path);
    if (!in_use) return std::unexpected(where + in_use.error());
    if (*in_use) return std::unexpected(where + "another process is listening on it (is vaned already running?)");
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return std::unexpected(where + "removing stale socket: " + errno_text(errno));
    }
  } else if (errno != ENOENT) {
    return std::unexpected(where + errno_text(errno));
  }

  error_code ec;
  st.acceptor.open(local_stream(), ec);
  if (ec) return std::unexpected(where + "socket: " + ec.message());
  // The umask makes the socket 0600 from its first moment; a chmod after bind would leave a window
  // in which any local user could connect.
  const mode_t old_mask = ::umask(0177);
  st.acceptor.bind(local_stream::endpoint(path.native()), ec);
  ::umask(old_mask);
  if (ec) {
    error_code ignored;
    st.acceptor.close(ignored);
    return std::unexpected(where + "bind: " + ec.message());
  }
  if (::chmod(path.c_str(), 0600) != 0 || ::stat(path.c_str(), &sb) != 0) {
    const int err = errno;
    error_code ignored;
    st.acceptor.close(ignored);
    ::unlink(path.c_str());
    return std::unexpected(where + errno_text(err));
  }
  st.dev = sb.st_dev;
  st.ino = sb.st_ino;
  st.bound = true;
  st.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    stop();
    return std::unexpected(where + "listen: " + ec.message());
  }
  st.running = true;
  st.accept();
  spdlog::info("control: listening on {}", path.string());
  return {};
}

void Server::stop() {
  auto& st = *state_;
  st.running = false;
  error_code ec;
  st.acceptor.close(ec);
  st.retry.cancel();
  // close() does not destroy a connection (its pending handlers own it), so iterating is safe.
  for (Connection* c : st.conns) c->close();
  if (st.bound) {
    st.bound = false;
    struct stat sb {};
    // Another daemon may have replaced the socket since; its socket is not ours to remove.
    if (::lstat(st.opts.socket_path.c_str(), &sb) == 0 && sb.st_dev == st.dev && sb.st_ino == st.ino) {
      ::unlink(st.opts.socket_path.c_str());
    }
  }
}

}  // namespace vane::control
