#include "control/client.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "control/test_support.h"

namespace vane::control {
namespace {

using namespace std::chrono_literals;

// A one-connection server that misbehaves as told.
class FakeDaemon {
 public:
  FakeDaemon(const std::filesystem::path& path, std::function<void(int fd)> behave) {
    listen_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    if (::bind(listen_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(listen_, 4) != 0) {
      throw std::runtime_error("fake daemon: bind/listen failed");
    }
    thread_ = std::thread([this, behave = std::move(behave)] {
      int fd = ::accept(listen_, nullptr, nullptr);
      if (fd < 0) return;
      behave(fd);
      ::close(fd);
    });
  }
  ~FakeDaemon() {
    ::shutdown(listen_, SHUT_RDWR);
    thread_.join();
    ::close(listen_);
  }

 private:
  int listen_;
  std::thread thread_;
};

// Reads the client's request frame and returns it.
std::optional<Request> read_request(int fd) {
  std::string h = testing::recv_some(fd, kHeaderSize, 5s);
  if (h.size() != kHeaderSize) return std::nullopt;
  std::string body = testing::recv_some(fd, get_header(h.data()), 5s);
  Request r;
  if (!r.ParseFromString(body)) return std::nullopt;
  return r;
}

class ClientTest : public ::testing::Test {
 protected:
  ClientOptions opts() const {
    ClientOptions o;
    o.socket_path = dir_.path() / "vaned.sock";
    o.timeout = 2s;
    return o;
  }
  Request reload() const {
    Request r;
    r.mutable_reload();
    return r;
  }
  testing::TempDir dir_;
};

TEST_F(ClientTest, NoSocketIsUnreachable) {
  auto r = call(opts(), reload());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ClientError::Kind::unreachable);
  EXPECT_NE(r.error().message.find("is vaned running"), std::string::npos) << r.error().message;
}

TEST_F(ClientTest, NobodyListeningIsUnreachable) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, opts().socket_path.c_str(), sizeof sa.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ::close(fd);
  auto r = call(opts(), reload());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ClientError::Kind::unreachable);
}

TEST_F(ClientTest, SendsItsVersionAndReadsTheAnswer) {
  std::optional<Request> seen;
  {
    FakeDaemon d(opts().socket_path, [&](int fd) {
      seen = read_request(fd);
      Response r;
      r.set_version(kProtocolVersion);
      r.mutable_action()->set_message("ok");
      testing::send_all(fd, *encode_frame(r, kMaxResponseSize));
    });
    auto r = call(opts(), reload());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->action().message(), "ok");
  }
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->version(), kProtocolVersion);
  EXPECT_TRUE(seen->has_reload());
}

TEST_F(ClientTest, ClosedWithoutAnswerIsProtocolError) {
  FakeDaemon d(opts().socket_path, [](int fd) { read_request(fd); });
  auto r = call(opts(), reload());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ClientError::Kind::protocol);
}

TEST_F(ClientTest, GarbageAnswerIsProtocolError) {
  FakeDaemon d(opts().socket_path, [](int fd) {
    read_request(fd);
    testing::send_all(fd, std::string("\x00\x00\x00\x03\xff\xff\xff", 7));
  });
  auto r = call(opts(), reload());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ClientError::Kind::protocol);
  EXPECT_NE(r.error().message.find("malformed"), std::string::npos);
}

TEST_F(ClientTest, OversizedAnswerIsRefusedUnread) {
  FakeDaemon d(opts().socket_path, [](int fd) {
    read_request(fd);
    testing::send_all(fd, std::string("\x7f\xff\xff\xff", 4));
  });
  auto r = call(opts(), reload());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ClientError::Kind::protocol);
  EXPECT_NE(r.error().message.find("exceeds"), std::string::npos);
}

TEST_F(ClientTest, TruncatedAnswerIsProtocolError) {
  FakeDaemon d(opts().socket_path, [](int fd) {
    read_request(fd);
    testing::send_all(fd, std::string("\x00\x00\x00\x10\x08", 5));
  });
  auto r = call(opts(), reload());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ClientError::Kind::protocol);
}

TEST_F(ClientTest, SilentDaemonTimesOutAsUnreachable) {
  FakeDaemon d(opts().socket_path, [](int fd) {
    read_request(fd);
    std::this_thread::sleep_for(1s);
  });
  auto o = opts();
  o.timeout = 150ms;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = call(o, reload());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ClientError::Kind::unreachable);
  EXPECT_NE(r.error().message.find("in time"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 900ms);
}

TEST_F(ClientTest, OtherMajorVersionIsProtocolErrorUnlessItIsAnError) {
  FakeDaemon d(opts().socket_path, [](int fd) {
    read_request(fd);
    Response r;
    r.set_version(9u << 16);
    r.mutable_action();
    testing::send_all(fd, *encode_frame(r, kMaxResponseSize));
  });
  auto r = call(opts(), reload());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ClientError::Kind::protocol);
  EXPECT_NE(r.error().message.find("9.0"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace vane::control
