// Exec checks: /bin/sh -c COMMAND in a process group of its own, reaped through a pidfd so nothing
// blocks the io_context.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "health/probe.h"

namespace vane::health {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

std::string one_line(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.remove_suffix(1);
  std::string out;
  out.reserve(s.size());
  for (char c : s) out += (c >= 0x20 && c < 0x7f) ? c : ' ';
  return out;
}

class ExecProbe final : public Probe, public std::enable_shared_from_this<ExecProbe> {
 public:
  ExecProbe(asio::io_context& io, const ProbeSpec& spec, ProbeCallback cb)
      : io_(io), out_(io), proc_(io), timer_(io), command_(std::get<ExecSpec>(spec.kind).command),
        timeout_(spec.timeout), cb_(std::move(cb)) {}

  ~ExecProbe() override {
    // Only reached without a reap when the io_context is torn down with the child still running:
    // kill it and reap it here, a SIGKILLed process goes away at once.
    if (pid_ > 0 && !reaped_) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  void begin() {
    start_ = std::chrono::steady_clock::now();
    if (auto err = spawn(); !err.empty()) {
      asio::post(io_, [self = shared_from_this(), err] { self->finish(false, err); });
      return;
    }
    timer_.expires_after(timeout_);
    timer_.async_wait([self = shared_from_this()](error_code e) {
      if (e || self->reaped_) return;
      self->kill_group();
      self->finish(false, "timed out after " + std::to_string(self->timeout_.count()) +
                              " ms, process group killed" + self->output_suffix());
    });
    proc_.async_wait(asio::posix::descriptor_base::wait_read,
                     [self = shared_from_this()](error_code e) { self->on_exit(e); });
    read_output();
  }

  void cancel() override {
    if (done_) return;
    done_ = true;
    cb_ = nullptr;
    timer_.cancel();
    // The pending pidfd wait keeps this object alive until the child is reaped.
    if (!reaped_) kill_group();
  }

 private:
  std::string spawn() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    // The daemon's sockets are not all close-on-exec; a check command must not inherit them.
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    // A group of its own, so a timeout can kill everything the command started.
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    // The daemon may block or ignore signals (SIGPIPE, SIGTERM for its own handling); the command
    // should see a pristine signal state.
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::string sh = "sh", dash_c = "-c";
    char* argv[] = {sh.data(), dash_c.data(), command_.data(), nullptr};
    const int rc = ::posix_spawn(&pid_, "/bin/sh", &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(fds[1]);
    if (rc != 0) {
      pid_ = -1;
      ::close(fds[0]);
      return std::string("spawn /bin/sh: ") + std::strerror(rc);
    }
    out_.assign(fds[0]);

    // Through syscall(): glibc 2.36's <sys/pidfd.h> lacks C linkage for C++ callers.
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd < 0) {
      const int err = errno;
      kill_group();
      ::waitpid(pid_, nullptr, 0);
      reaped_ = true;
      return std::string("pidfd_open: ") + std::strerror(err);
    }
    proc_.assign(pidfd);
    return {};
  }

  void kill_group() {
    if (pid_ > 0 && !reaped_) ::kill(-pid_, SIGKILL);
  }

  void read_output() {
    out_.async_read_some(asio::buffer(chunk_), [self = shared_from_this()](error_code e, size_t n) {
      self->take(n);
      if (!e) self->read_output();
    });
  }

  void take(size_t n) {
    // Past the limit the output is read and dropped: closing the pipe would SIGPIPE the command and
    // change its exit status.
    const size_t room = kExecMaxOutput - std::min(kExecMaxOutput, output_.size());
    output_.append(chunk_.data(), std::min(n, room));
  }

  void on_exit(error_code e) {
    if (e == asio::error::operation_aborted) return;
    // The leader is a zombie until waitpid, so its process group ID cannot have been reused yet:
    // killing the group now takes any background children with it.
    kill_group();
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0) {
      proc_.async_wait(asio::posix::descriptor_base::wait_read,
                       [self = shared_from_this()](error_code e2) { self->on_exit(e2); });
      return;
    }
    reaped_ = true;
    error_code ignored;
    proc_.close(ignored);
    drain_output();
    out_.close(ignored);
    timer_.cancel();
    if (r < 0) return finish(false, std::string("exit status lost: ") + std::strerror(errno) + output_suffix());
    if (WIFEXITED(status)) {
      const int code = WEXITSTATUS(status);
      return finish(code == 0, "exit status " + std::to_string(code) + output_suffix());
    }
    if (WIFSIGNALED(status)) return finish(false, "killed by signal " + std::to_string(WTERMSIG(status)) + output_suffix());
    finish(false, "ended abnormally" + output_suffix());
  }

  // What the command wrote just before it exited may still sit in the pipe.
  void drain_output() {
    error_code ec;
    out_.non_blocking(true, ec);
    for (int i = 0; !ec && i < 64; ++i) {
      const size_t n = out_.read_some(asio::buffer(chunk_), ec);
      take(n);
    }
  }

  std::string output_suffix() const {
    std::string o = one_line(output_);
    return o.empty() ? std::string() : ": " + o;
  }

  void finish(bool ok, std::string detail) {
    if (done_) return;
    done_ = true;
    timer_.cancel();
    Result r;
    r.ok = ok;
    r.latency = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start_);
    r.detail = std::move(detail);
    auto cb = std::move(cb_);
    if (cb) cb(std::move(r));
  }

  asio::io_context& io_;
  asio::posix::stream_descriptor out_, proc_;
  asio::steady_timer timer_;
  std::string command_;
  std::chrono::milliseconds timeout_;
  ProbeCallback cb_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  bool done_ = false;
  std::string output_;
  std::array<char, 1024> chunk_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

std::shared_ptr<Probe> start_exec_probe(asio::io_context& io, const ProbeSpec& spec, ProbeCallback cb) {
  auto p = std::make_shared<ExecProbe>(io, spec, std::move(cb));
  p->begin();
  return p;
}

}  // namespace vane::health
