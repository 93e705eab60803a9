#pragma once
// Shared by the control and CLI tests: an io_context on its own thread, a temp dir, and raw
// socket helpers for playing a misbehaving client.
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include "control/codec.h"

namespace vane::testing {

class IoThread {
 public:
  IoThread() : guard_(boost::asio::make_work_guard(io)) {}
  ~IoThread() { stop(); }
  void start() {
    thread_ = std::thread([this] { io.run(); });
  }
  void stop() {
    guard_.reset();
    io.stop();
    if (thread_.joinable()) thread_.join();
  }
  // Runs `f` on the io_context's thread and waits for its result.
  template <typename F>
  auto run(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto fut = task.get_future();
    boost::asio::post(io, [&task] { task(); });
    return fut.get();
  }

  boost::asio::io_context io;

 private:
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "vane-ctl-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline int raw_connect(const std::filesystem::path& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads (a socket or a pipe) until `n` bytes arrived, EOF, or the timeout; returns what arrived.
inline std::string recv_some(int fd, std::size_t n, std::chrono::milliseconds timeout) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < n) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buf[4096];
    ssize_t r = ::read(fd, buf, std::min(sizeof buf, n - out.size()));
    if (r <= 0) break;
    out.append(buf, static_cast<std::size_t>(r));
  }
  return out;
}

// Reads one response frame; nullopt on EOF, timeout or garbage.
inline std::optional<control::Response> recv_response(int fd,
                                                      std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  std::string header = recv_some(fd, control::kHeaderSize, timeout);
  if (header.size() != control::kHeaderSize) return std::nullopt;
  const uint32_t len = control::get_header(header.data());
  std::string body = recv_some(fd, len, timeout);
  if (body.size() != len) return std::nullopt;
  auto resp = control::decode_response(body);
  if (!resp) return std::nullopt;
  return *resp;
}

// True when the peer closes within the timeout (and sends nothing more).
inline bool wait_eof(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char c;
  return ::recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

inline std::string frame_of(const control::Request& req) {
  return *control::encode_frame(req, control::kMaxRequestSize);
}

inline control::Request versioned(control::Request req) {
  req.set_version(control::kProtocolVersion);
  return req;
}

}  // namespace vane::testing
