#pragma once
// Asynchronous probes on a caller's io_context (single-threaded: every callback runs on it).
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>

#include "config/exec_user.h"
#include "health/types.h"
#include "vane/config.pb.h"

namespace vane::health {

// Bounds on what a probe reads, so a misbehaving target cannot make the daemon buffer without end.
inline constexpr size_t kHttpMaxRead = 64 * 1024;
inline constexpr size_t kExecMaxOutput = 4 * 1024;
inline constexpr size_t kAgentMaxLine = 1024;
inline constexpr size_t kDnsMaxReply = 4096;

struct TcpSpec {
  uint16_t port = 0;
};
struct HttpSpec {
  uint16_t port = 80;
  std::string path = "/";
  uint32_t expect_status = 200;
  std::string expect_body;
  std::string host;  // Host header, with a port if not 80
};
struct DnsSpec {
  uint16_t port = 53;
  std::string query_name;
  uint16_t qtype = 1;
  uint8_t expect_rcode = 0;
};
struct ExecSpec {
  std::string command;
  // Who the command runs as; none: vaned's own user, unchanged (tests). Either way the command gets
  // a minimal environment and no capabilities.
  std::optional<config::ExecUser> user;
};
struct AgentSpec {
  uint16_t port = 0;
};

// One check, resolved: defaults applied, addresses parsed.
struct ProbeSpec {
  std::variant<TcpSpec, HttpSpec, DnsSpec, ExecSpec, AgentSpec> kind;
  boost::asio::ip::address address;  // not used by exec
  std::optional<boost::asio::ip::address> source;
  std::chrono::milliseconds timeout{1000};
};

// Resolves a check; `default_address` (the service's first VIP) is used when the check has none.
std::expected<ProbeSpec, std::string> make_probe_spec(const config::Check& check, std::string_view default_address);
// "tcp", "http", "dns", "exec", "agent" or "none".
std::string_view check_kind(const config::Check& check);

// A probe in flight. Its callback runs exactly once, on the io_context, never from inside the call
// that started it, unless cancel() comes first: then it never runs.
class Probe {
 public:
  virtual ~Probe() = default;
  // Stops the probe: closes its sockets, kills an exec check's process group. Idempotent.
  virtual void cancel() = 0;
};

using ProbeCallback = std::function<void(Result)>;

// Starts one probe.
std::shared_ptr<Probe> start_probe(boost::asio::io_context& io, const ProbeSpec& spec, ProbeCallback cb);

// What the engine starts probes through; tests substitute their own.
class ProbeRunner {
 public:
  virtual ~ProbeRunner() = default;
  virtual std::shared_ptr<Probe> start(const ProbeSpec& spec, ProbeCallback cb) = 0;
};

class AsioProbeRunner final : public ProbeRunner {
 public:
  explicit AsioProbeRunner(boost::asio::io_context& io) : io_(io) {}
  std::shared_ptr<Probe> start(const ProbeSpec& spec, ProbeCallback cb) override {
    return start_probe(io_, spec, std::move(cb));
  }

 private:
  boost::asio::io_context& io_;
};

// Per-kind entry points (start_probe dispatches to these).
std::shared_ptr<Probe> start_tcp_probe(boost::asio::io_context& io, const ProbeSpec& spec, ProbeCallback cb);
std::shared_ptr<Probe> start_http_probe(boost::asio::io_context& io, const ProbeSpec& spec, ProbeCallback cb);
std::shared_ptr<Probe> start_agent_probe(boost::asio::io_context& io, const ProbeSpec& spec, ProbeCallback cb);
std::shared_ptr<Probe> start_dns_probe(boost::asio::io_context& io, const ProbeSpec& spec, ProbeCallback cb);
std::shared_ptr<Probe> start_exec_probe(boost::asio::io_context& io, const ProbeSpec& spec, ProbeCallback cb);

}  // namespace vane::health
