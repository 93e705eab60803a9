// Exec checks: /bin/sh -c COMMAND as the check's user, in a process group of its own, with a
// minimal environment and no capabilities; reaped through a pidfd so nothing blocks the io_context.
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/caps.h"
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
      : io_(io),
        out_(io),
        proc_(io),
        timer_(io),
        command_(std::get<ExecSpec>(spec.kind).command),
        user_(std::get<ExecSpec>(spec.kind).user),
        timeout_(spec.timeout),
        cb_(std::move(cb)) {}

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
      const int err = self->kill_group();
      self->finish(false, "timed out after " + std::to_string(self->timeout_.count()) + " ms, " +
                              (err ? "cannot kill its process group: " + std::string(std::strerror(err)) +
                                         missing_capability_hint(err, {CAP_KILL})
                                   : std::string("process group killed")) +
                              self->output_suffix());
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
    // Everything the child uses is made here: between fork and exec it may only make
    // async-signal-safe calls (vaned has other threads, whose locks the child inherits held).
    std::vector<std::string> env{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"};
    if (user_) {
      env.push_back("HOME=" + user_->home);
      env.push_back("USER=" + user_->name);
      env.push_back("LOGNAME=" + user_->name);
    }
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string sh = "sh", dash_c = "-c";
    char* argv[] = {sh.data(), dash_c.data(), command_.data(), nullptr};

    // vaned's own user (uid and gid) runs the check with vaned's groups: no change, so no
    // capability is needed for it.
    switch_user_ = user_ && (user_->uid != ::geteuid() || user_->gid != ::getegid());
    // Checked at start too (check_machine); here for a check a reload added. Without CAP_KILL a
    // timed-out check of another user could not be killed, so it is not started at all.
    if (switch_user_)
      for (int cap : {CAP_SETUID, CAP_SETGID, CAP_KILL})
        if (!have_capability(cap)) return "cannot run as user " + user_->name + ": vaned lacks " + capability_name(cap);

    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
    // No handler of vaned's may run in the child before it resets them.
    sigset_t all, old;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old);
    const pid_t pid = ::fork();
    if (pid == 0) run_child(fds[1], argv, envp.data());
    const int fork_err = errno;
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    ::close(fds[1]);
    if (pid < 0) {
      ::close(fds[0]);
      return std::string("fork: ") + std::strerror(fork_err);
    }
    pid_ = pid;
    // Also done by the child; here too so that a kill of the group cannot come before it exists.
    ::setpgid(pid_, pid_);
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

  // Reports why the child could not become the check (on its output, which ends in the check's
  // detail) and exits 126, as a shell does for a command it cannot execute.
  [[noreturn]] static void child_fail(const char* step) {
    const int err = errno;
    const char* name = ::strerrorname_np(err);
    auto put = [](const char* s) { (void)!::write(2, s, std::strlen(s)); };
    put("vaned: exec check: ");
    put(step);
    put(": ");
    put(name ? name : "error");
    put("\n");
    ::_exit(126);
  }

  [[noreturn]] void run_child(int out, char** argv, char** envp) {
    // A group of its own, so a timeout can kill everything the command started.
    ::setpgid(0, 0);
    // Pristine signal state: vaned blocks or ignores some (SIGPIPE), and an ignored signal stays
    // ignored across exec.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig)
      if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);

    const int in = ::open("/dev/null", O_RDONLY);
    if (in < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) child_fail("stdio");
    // The daemon's sockets are not all close-on-exec; a check command must not inherit them.
    if (::syscall(SYS_close_range, 3u, ~0u, 0u) != 0) child_fail("close_range");

    // Raw system calls: glibc's wrappers would try to change the credentials of every thread of
    // the process, and the child has inherited the record of threads that are not in it.
    if (switch_user_) {
      if (::syscall(SYS_setgroups, user_->groups.size(), user_->groups.data()) != 0) child_fail("setgroups");
      if (::syscall(SYS_setresgid, user_->gid, user_->gid, user_->gid) != 0) child_fail("setresgid");
      if (::syscall(SYS_setresuid, user_->uid, user_->uid, user_->uid) != 0) child_fail("setresuid");
    }
    // A non-root vaned keeps its capabilities across a setuid between non-zero uids: the
    // ambient and inheritable sets would carry them into the command. With both empty, a command
    // run by a non-root uid has none; no_new_privs keeps setuid and file-capability binaries from
    // giving it any.
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
      child_fail("clear ambient capabilities");
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct caps[2]{};
    if (::syscall(SYS_capget, &hdr, caps) != 0) child_fail("capget");
    caps[0].inheritable = caps[1].inheritable = 0;
    if (::syscall(SYS_capset, &hdr, caps) != 0) child_fail("clear inheritable capabilities");
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail("no_new_privs");
    ::execve("/bin/sh", argv, envp);
    child_fail("execve /bin/sh");
  }

  // Returns errno (0: sent). Another user's processes take CAP_KILL to signal.
  int kill_group() {
    if (pid_ > 0 && !reaped_ && ::kill(-pid_, SIGKILL) != 0) return errno;
    return 0;
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
    if (WIFSIGNALED(status))
      return finish(false, "killed by signal " + std::to_string(WTERMSIG(status)) + output_suffix());
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
  std::optional<config::ExecUser> user_;
  bool switch_user_ = false;
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
