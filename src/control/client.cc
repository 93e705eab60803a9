#include "control/client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vane::control {

namespace {

using Clock = std::chrono::steady_clock;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

ClientError unreachable(std::string msg) {
  return {ClientError::Kind::unreachable, std::move(msg)};
}
ClientError protocol(std::string msg) {
  return {ClientError::Kind::protocol, std::move(msg)};
}

// Waits until `fd` is ready for `events` or `deadline` passes; false on timeout or poll failure.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return false;
  }
}

// Fills `buf` completely. Returns 0, or the errno-like reason: ETIMEDOUT, or EPIPE for EOF.
int read_all(int fd, char* buf, std::size_t n, Clock::time_point deadline) {
  while (n > 0) {
    const ssize_t r = ::recv(fd, buf, n, 0);
    if (r > 0) {
      buf += r;
      n -= static_cast<std::size_t>(r);
    } else if (r == 0) {
      return EPIPE;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_for(fd, POLLIN, deadline)) return ETIMEDOUT;
    } else if (errno != EINTR) {
      return errno;
    }
  }
  return 0;
}

int write_all(int fd, const char* buf, std::size_t n, Clock::time_point deadline) {
  while (n > 0) {
    const ssize_t r = ::send(fd, buf, n, MSG_NOSIGNAL);
    if (r >= 0) {
      buf += r;
      n -= static_cast<std::size_t>(r);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_for(fd, POLLOUT, deadline)) return ETIMEDOUT;
    } else if (errno != EINTR) {
      return errno;
    }
  }
  return 0;
}

}  // namespace

std::expected<Response, ClientError> call(const ClientOptions& opts, Request req) {
  const std::string& path = opts.socket_path.native();
  const std::string where = opts.socket_path.string() + ": ";
  sockaddr_un sa{};
  if (path.empty() || path.size() >= sizeof sa.sun_path)
    return std::unexpected(unreachable(where + "invalid socket path"));
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size());

  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return std::unexpected(unreachable(std::string("socket: ") + std::strerror(errno)));

  const auto connect_deadline = Clock::now() + opts.connect_timeout;
  // A Unix connect only waits when the listen backlog is full (EAGAIN); retry until the deadline.
  for (;;) {
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0) break;
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN && Clock::now() < connect_deadline) {
      ::usleep(10'000);
      continue;
    }
    std::string why = std::strerror(err);
    if (err == ENOENT || err == ECONNREFUSED) why += " (is vaned running?)";
    if (err == EACCES || err == EPERM) why += " (vanectl must run as root or as vaned's user)";
    if (err == EAGAIN) why = "connect timed out";
    return std::unexpected(unreachable(where + why));
  }

  const auto deadline = Clock::now() + opts.timeout;
  req.set_version(kProtocolVersion);
  auto frame = encode_frame(req, kMaxRequestSize);
  if (!frame) return std::unexpected(protocol("request too large"));
  const int write_err = write_all(fd.get(), frame->data(), frame->size(), deadline);
  if (write_err == ETIMEDOUT) return std::unexpected(unreachable(where + "daemon did not accept the request in time"));
  // A daemon that refuses the connection (busy, permission) answers and closes before reading, so
  // a failed write may still have a response waiting to explain it.
  char header[kHeaderSize];
  if (int err = read_all(fd.get(), header, sizeof header, deadline)) {
    if (write_err) return std::unexpected(protocol(where + "sending request: " + std::strerror(write_err)));
    if (err == ETIMEDOUT) return std::unexpected(unreachable(where + "daemon did not answer in time"));
    if (err == EPIPE) return std::unexpected(protocol(where + "daemon closed the connection without answering"));
    return std::unexpected(protocol(where + "reading response: " + std::strerror(err)));
  }
  const uint32_t len = get_header(header);
  if (len > opts.max_response_size) {
    return std::unexpected(protocol(where + "response of " + std::to_string(len) + " bytes exceeds the limit"));
  }
  std::string body(len, '\0');
  if (int err = read_all(fd.get(), body.data(), body.size(), deadline)) {
    if (err == ETIMEDOUT) return std::unexpected(unreachable(where + "daemon did not finish its answer in time"));
    return std::unexpected(
        protocol(where + "truncated response: " + (err == EPIPE ? "connection closed" : std::strerror(err))));
  }
  auto resp = decode_response(body);
  if (!resp) return std::unexpected(protocol(where + "malformed response"));
  if (version_major(resp->version()) != kProtocolMajor && resp->error().empty()) {
    return std::unexpected(protocol(where + "daemon speaks protocol " + std::to_string(version_major(resp->version())) +
                                    "." + std::to_string(version_minor(resp->version())) + ", vanectl " +
                                    std::to_string(kProtocolMajor) + "." + std::to_string(kProtocolMinor)));
  }
  return std::move(*resp);
}

}  // namespace vane::control
