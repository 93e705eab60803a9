#include "control/server.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <fstream>

#include "control/client.h"
#include "control/test_support.h"

namespace vane::control {
namespace {

using namespace std::chrono_literals;
using testing::IoThread;
using testing::TempDir;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() / "run" / "vane" / "vaned.sock";
    io_.start();
  }
  void TearDown() override {
    // The server belongs to the io_context's thread, like in the daemon.
    io_.run([&] {
      server_.reset();
      return 0;
    });
    io_.stop();
  }

  // Starts a server whose handler answers show_neighbors with one neighbour and records calls.
  void start(ServerOptions opts = {}, Server::Handler handler = {}) {
    opts.socket_path = path_;
    if (!handler) {
      handler = [this](const Request& req, Server::Reply reply) {
        ++calls_;
        Response r;
        if (req.has_show_neighbors()) {
          r.mutable_neighbors()->add_neighbors()->set_name("tor1");
        } else {
          r.mutable_action()->set_message(std::string(command_name(req)));
        }
        reply(std::move(r));
      };
    }
    server_ = std::make_unique<Server>(io_.io, opts, std::move(handler));
    auto ok = io_.run([&] { return server_->start(); });
    ASSERT_TRUE(ok) << ok.error();
  }

  ServerStats stats() {
    return io_.run([&] { return server_->stats(); });
  }

  ClientOptions client() const {
    ClientOptions o;
    o.socket_path = path_;
    o.timeout = 5s;
    return o;
  }

  static Request show() {
    Request r;
    r.mutable_show_neighbors();
    return r;
  }

  TempDir dir_;
  std::filesystem::path path_;
  IoThread io_;
  std::unique_ptr<Server> server_;
  std::atomic<int> calls_{0};
};

TEST_F(ServerTest, RoundTrip) {
  start();
  auto resp = call(client(), show());
  ASSERT_TRUE(resp) << resp.error().message;
  EXPECT_EQ(resp->error(), "");
  EXPECT_EQ(resp->version(), kProtocolVersion);
  ASSERT_EQ(resp->neighbors().neighbors_size(), 1);
  EXPECT_EQ(resp->neighbors().neighbors(0).name(), "tor1");
  EXPECT_EQ(calls_, 1);
  EXPECT_EQ(stats().requests, 1u);
}

TEST_F(ServerTest, SocketIsPrivateAndDirectoryCreated) {
  start();
  struct stat sb {};
  ASSERT_EQ(::stat(path_.c_str(), &sb), 0);
  EXPECT_TRUE(S_ISSOCK(sb.st_mode));
  EXPECT_EQ(sb.st_mode & 07777, 0600u);
  EXPECT_EQ(sb.st_uid, ::geteuid());
  ASSERT_EQ(::stat(path_.parent_path().c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 07777, 0755u);
}

TEST_F(ServerTest, SeveralRequestsOnOneConnection) {
  start();
  int fd = testing::raw_connect(path_);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 3; ++i) {
    Request r;
    r.mutable_reload();
    ASSERT_TRUE(testing::send_all(fd, testing::frame_of(testing::versioned(r))));
    auto resp = testing::recv_response(fd);
    ASSERT_TRUE(resp);
    EXPECT_EQ(resp->action().message(), "reload");
  }
  ::close(fd);
  EXPECT_EQ(calls_, 3);
}

TEST_F(ServerTest, StalledClientDoesNotBlockAnother) {
  ServerOptions opts;
  opts.io_timeout = 2s;
  start(opts);
  int stalled = testing::raw_connect(path_);
  ASSERT_GE(stalled, 0);
  ASSERT_TRUE(testing::send_all(stalled, std::string("\x00\x00", 2)));

  const auto t0 = std::chrono::steady_clock::now();
  auto resp = call(client(), show());
  ASSERT_TRUE(resp) << resp.error().message;
  EXPECT_EQ(resp->neighbors().neighbors_size(), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);

  // The stalled one is cut off at the deadline, without an answer.
  EXPECT_TRUE(testing::wait_eof(stalled, 5s));
  ::close(stalled);
  EXPECT_EQ(stats().timeouts, 1u);
  EXPECT_EQ(calls_, 1);
}

TEST_F(ServerTest, OversizedLengthPrefixIsRejected) {
  start();
  int fd = testing::raw_connect(path_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(testing::send_all(fd, std::string("\xff\xff\xff\xff", 4)));
  auto resp = testing::recv_response(fd);
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->code(), ERROR_CODE_TOO_LARGE);
  EXPECT_EQ(resp->version(), kProtocolVersion);
  EXPECT_TRUE(testing::wait_eof(fd, 3s));
  ::close(fd);
  EXPECT_EQ(calls_, 0);
  EXPECT_EQ(stats().bad_requests, 1u);
}

TEST_F(ServerTest, MalformedRequestIsAnsweredAndConnectionSurvives) {
  start();
  int fd = testing::raw_connect(path_);
  ASSERT_GE(fd, 0);
  const std::string garbage = "\xff\xff\xff\xff\xff\xff";
  char h[kHeaderSize];
  put_header(static_cast<uint32_t>(garbage.size()), h);
  ASSERT_TRUE(testing::send_all(fd, std::string(h, kHeaderSize) + garbage));
  auto resp = testing::recv_response(fd);
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->code(), ERROR_CODE_BAD_REQUEST);
  EXPECT_EQ(calls_, 0);

  ASSERT_TRUE(testing::send_all(fd, testing::frame_of(testing::versioned(show()))));
  resp = testing::recv_response(fd);
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->error(), "");
  EXPECT_EQ(calls_, 1);
  ::close(fd);
}

TEST_F(ServerTest, UnknownCommandAndVersionMismatchNeverReachTheHandler) {
  start();
  int fd = testing::raw_connect(path_);
  ASSERT_GE(fd, 0);
  Request unknown;
  unknown.set_version(kProtocolVersion);
  ASSERT_TRUE(testing::send_all(fd, testing::frame_of(unknown)));
  auto resp = testing::recv_response(fd);
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->code(), ERROR_CODE_UNKNOWN_COMMAND);

  Request old = show();
  old.set_version(2u << 16);
  ASSERT_TRUE(testing::send_all(fd, testing::frame_of(old)));
  resp = testing::recv_response(fd);
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->code(), ERROR_CODE_UNSUPPORTED_VERSION);
  ::close(fd);
  EXPECT_EQ(calls_, 0);
}

TEST_F(ServerTest, TruncatedRequestIsDroppedQuietly) {
  start();
  int fd = testing::raw_connect(path_);
  ASSERT_GE(fd, 0);
  char h[kHeaderSize];
  put_header(100, h);
  ASSERT_TRUE(testing::send_all(fd, std::string(h, kHeaderSize) + std::string(10, '\x08')));
  ::shutdown(fd, SHUT_WR);
  EXPECT_TRUE(testing::wait_eof(fd, 3s));
  ::close(fd);
  EXPECT_EQ(calls_, 0);
  // The server is still fine.
  EXPECT_TRUE(call(client(), show()));
}

TEST_F(ServerTest, DeferredReply) {
  auto timer = std::make_shared<boost::asio::steady_timer>(io_.io);
  start({}, [&, timer](const Request&, Server::Reply reply) {
    timer->expires_after(50ms);
    timer->async_wait([reply](const boost::system::error_code&) {
      Response r;
      r.mutable_action()->set_message("reloaded");
      reply(std::move(r));
    });
  });
  Request r;
  r.mutable_reload();
  auto resp = call(client(), r);
  ASSERT_TRUE(resp) << resp.error().message;
  EXPECT_EQ(resp->action().message(), "reloaded");
}

TEST_F(ServerTest, ReplyFromAnotherThread) {
  std::vector<std::thread> workers;
  std::mutex mu;
  start({}, [&](const Request&, Server::Reply reply) {
    std::lock_guard lock(mu);
    workers.emplace_back([reply] {
      Response r;
      r.mutable_action()->set_message("from a worker");
      reply(r);
      reply(r);  // a second answer is ignored
    });
  });
  auto resp = call(client(), show());
  ASSERT_TRUE(resp) << resp.error().message;
  EXPECT_EQ(resp->action().message(), "from a worker");
  std::lock_guard lock(mu);
  for (auto& t : workers) t.join();
}

TEST_F(ServerTest, DroppedReplyAnswersInternalError) {
  start({}, [](const Request&, Server::Reply) {});
  auto resp = call(client(), show());
  ASSERT_TRUE(resp) << resp.error().message;
  EXPECT_EQ(resp->code(), ERROR_CODE_INTERNAL);
  EXPECT_FALSE(resp->error().empty());
}

TEST_F(ServerTest, ThrowingHandlerAnswersInternalError) {
  start({}, [](const Request&, Server::Reply) { throw std::runtime_error("boom"); });
  auto resp = call(client(), show());
  ASSERT_TRUE(resp) << resp.error().message;
  EXPECT_EQ(resp->code(), ERROR_CODE_INTERNAL);
  EXPECT_NE(resp->error().find("boom"), std::string::npos);
}

TEST_F(ServerTest, ConnectionsBeyondTheLimitGetBusy) {
  ServerOptions opts;
  opts.max_connections = 2;
  start(opts);
  int a = testing::raw_connect(path_), b = testing::raw_connect(path_);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  for (int i = 0; i < 200 && stats().active < 2; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(stats().active, 2u);
  auto resp = call(client(), show());
  ASSERT_TRUE(resp) << resp.error().message;
  EXPECT_EQ(resp->code(), ERROR_CODE_BUSY);
  ::close(a);
  ::close(b);
  for (int i = 0; i < 200 && stats().active > 0; ++i) std::this_thread::sleep_for(5ms);
  resp = call(client(), show());
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->error(), "");
  EXPECT_EQ(stats().busy, 1u);
}

TEST_F(ServerTest, StopClosesAndUnlinks) {
  start();
  int idle = testing::raw_connect(path_);
  ASSERT_GE(idle, 0);
  for (int i = 0; i < 200 && stats().active < 1; ++i) std::this_thread::sleep_for(5ms);
  io_.run([&] {
    server_->stop();
    return 0;
  });
  EXPECT_FALSE(std::filesystem::exists(path_));
  EXPECT_TRUE(testing::wait_eof(idle, 3s));
  ::close(idle);
  auto resp = call(client(), show());
  ASSERT_FALSE(resp);
  EXPECT_EQ(resp.error().kind, ClientError::Kind::unreachable);
}

TEST_F(ServerTest, StaleSocketIsReplacedLiveOneIsNot) {
  std::filesystem::create_directories(path_.parent_path());
  {
    // A socket file nobody listens on, as a crashed daemon leaves behind.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path_.c_str(), sizeof sa.sun_path - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ::close(fd);
  }
  start();
  EXPECT_TRUE(call(client(), show()));

  auto second = std::make_unique<Server>(io_.io, ServerOptions{.socket_path = path_}, Server::Handler{});
  auto ok = io_.run([&] { return second->start(); });
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().find("another process"), std::string::npos) << ok.error();
  // The failed second server must not have removed the first one's socket.
  io_.run([&] {
    second.reset();
    return 0;
  });
  EXPECT_TRUE(call(client(), show()));
}

TEST(ServerStart, RefusesToReplaceARegularFile) {
  TempDir dir;
  const auto path = dir.path() / "vaned.sock";
  std::ofstream(path) << "precious";
  boost::asio::io_context io;
  Server s(io, ServerOptions{.socket_path = path}, {});
  auto ok = s.start();
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().find("not a socket"), std::string::npos) << ok.error();
  EXPECT_EQ(std::filesystem::file_size(path), 8u);
}

TEST(ServerStart, RefusesOverlongPath) {
  boost::asio::io_context io;
  Server s(io, ServerOptions{.socket_path = "/tmp/" + std::string(200, 'x')}, {});
  EXPECT_FALSE(s.start());
}

TEST(PeerCredentials, OnlyRootAndTheDaemonsUser) {
  EXPECT_TRUE(peer_allowed(0, 0));
  EXPECT_TRUE(peer_allowed(0, 1000));
  EXPECT_TRUE(peer_allowed(1000, 1000));
  EXPECT_FALSE(peer_allowed(1001, 1000));
  EXPECT_FALSE(peer_allowed(65534, 0));
}

TEST_F(ServerTest, OtherUsersAreRefusedEvenIfTheModeLetsThemIn) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as another uid";
  start();
  // Open the file permissions so that only the credential check stands in the way.
  for (auto p = path_.parent_path(); p != dir_.path().parent_path(); p = p.parent_path()) ::chmod(p.c_str(), 0755);
  ::chmod(path_.c_str(), 0666);
  const std::string frame = testing::frame_of(testing::versioned(show()));
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Only async-signal-safe calls from here: the parent has threads.
    ::close(pipefd[0]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path_.c_str(), path_.native().size());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) ::_exit(3);
    (void)!::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL);
    char buf[512];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) (void)!::write(pipefd[1], buf, static_cast<size_t>(n));
    ::_exit(0);
  }
  ::close(pipefd[1]);
  std::string got = testing::recv_some(pipefd[0], 4096, 5s);
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  auto body = split_frame(got, kMaxResponseSize);
  ASSERT_TRUE(body);
  auto resp = decode_response(*body);
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->code(), ERROR_CODE_PERMISSION_DENIED);
  EXPECT_EQ(calls_, 0);
  EXPECT_EQ(stats().denied, 1u);
}

}  // namespace
}  // namespace vane::control
