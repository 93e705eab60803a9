#include "health/probe.h"

#include <algorithm>

#include "health/wire.h"

namespace vane::health {

namespace {

std::expected<uint16_t, std::string> port_of(uint32_t port, uint32_t fallback) {
  if (port == 0) port = fallback;
  if (port == 0 || port > 65535) return std::unexpected("port must be 1..65535");
  return static_cast<uint16_t>(port);
}

std::expected<boost::asio::ip::address, std::string> parse_address(std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return std::unexpected(std::string(what) + " '" + std::string(text) + "' is not an IP address");
  return a;
}

}  // namespace

std::string_view check_kind(const config::Check& check) {
  switch (check.kind_case()) {
    case config::Check::kTcp:
      return "tcp";
    case config::Check::kHttp:
      return "http";
    case config::Check::kDns:
      return "dns";
    case config::Check::kExec:
      return "exec";
    case config::Check::kAgent:
      return "agent";
    default:
      return "none";
  }
}

std::expected<ProbeSpec, std::string> make_probe_spec(const config::Check& check, std::string_view default_address) {
  ProbeSpec spec;
  const uint32_t interval = check.has_interval_ms() ? check.interval_ms() : 1000;
  spec.timeout =
      std::chrono::milliseconds(check.has_timeout_ms() ? check.timeout_ms() : std::min<uint32_t>(1000, interval));
  if (spec.timeout.count() <= 0) return std::unexpected("timeout_ms must be positive");

  const bool needs_address = check.kind_case() != config::Check::kExec;
  if (needs_address) {
    const std::string_view text = check.address().empty() ? default_address : std::string_view(check.address());
    if (text.empty()) return std::unexpected("no address to check (no address and no VIP)");
    auto a = parse_address(text, "address");
    if (!a) return std::unexpected(a.error());
    spec.address = *a;
    if (!check.source_address().empty()) {
      auto s = parse_address(check.source_address(), "source_address");
      if (!s) return std::unexpected(s.error());
      if (s->is_v4() != spec.address.is_v4()) return std::unexpected("source_address and address differ in family");
      spec.source = *s;
    }
  }

  switch (check.kind_case()) {
    case config::Check::kTcp: {
      auto p = port_of(check.tcp().port(), 0);
      if (!p) return std::unexpected(p.error());
      spec.kind = TcpSpec{*p};
      break;
    }
    case config::Check::kHttp: {
      const auto& h = check.http();
      auto p = port_of(h.port(), 0);
      if (!p) return std::unexpected(p.error());
      HttpSpec s;
      s.port = *p;
      s.path = h.path().empty() ? "/" : h.path();
      if (s.path.front() != '/' || s.path.find_first_of("\r\n ") != std::string::npos)
        return std::unexpected("http path must start with '/' and contain no spaces or line breaks");
      s.expect_status = h.expect_status() == 0 ? 200 : h.expect_status();
      s.expect_body = h.expect_body();
      if (!h.host().empty()) {
        s.host = h.host();
        if (s.host.find_first_of("\r\n") != std::string::npos)
          return std::unexpected("http host contains a line break");
      } else {
        s.host = spec.address.is_v6() ? "[" + spec.address.to_string() + "]" : spec.address.to_string();
        if (s.port != 80) s.host += ":" + std::to_string(s.port);
      }
      spec.kind = std::move(s);
      break;
    }
    case config::Check::kDns: {
      const auto& d = check.dns();
      auto p = port_of(d.port(), 53);
      if (!p) return std::unexpected(p.error());
      auto t = dns_qtype(d.query_type());
      if (!t) return std::unexpected("unsupported query_type '" + d.query_type() + "'");
      if (d.expect_rcode() > 15) return std::unexpected("expect_rcode must be 0..15");
      if (auto q = encode_dns_query(0, d.query_name(), *t); !q) return std::unexpected(q.error());
      spec.kind = DnsSpec{*p, d.query_name(), *t, static_cast<uint8_t>(d.expect_rcode())};
      break;
    }
    case config::Check::kExec:
      if (check.exec().command().empty()) return std::unexpected("exec command is empty");
      {
        auto u = config::resolve_exec_user(check.exec());
        if (!u) return std::unexpected(u.error());
        spec.kind = ExecSpec{check.exec().command(), std::move(*u)};
      }
      break;
    case config::Check::kAgent: {
      auto p = port_of(check.agent().port(), 0);
      if (!p) return std::unexpected(p.error());
      spec.kind = AgentSpec{*p};
      break;
    }
    default:
      return std::unexpected("check has no kind");
  }
  return spec;
}

std::shared_ptr<Probe> start_probe(boost::asio::io_context& io, const ProbeSpec& spec, ProbeCallback cb) {
  struct Visitor {
    boost::asio::io_context& io;
    const ProbeSpec& spec;
    ProbeCallback& cb;
    std::shared_ptr<Probe> operator()(const TcpSpec&) { return start_tcp_probe(io, spec, std::move(cb)); }
    std::shared_ptr<Probe> operator()(const HttpSpec&) { return start_http_probe(io, spec, std::move(cb)); }
    std::shared_ptr<Probe> operator()(const DnsSpec&) { return start_dns_probe(io, spec, std::move(cb)); }
    std::shared_ptr<Probe> operator()(const ExecSpec&) { return start_exec_probe(io, spec, std::move(cb)); }
    std::shared_ptr<Probe> operator()(const AgentSpec&) { return start_agent_probe(io, spec, std::move(cb)); }
  };
  return std::visit(Visitor{io, spec, cb}, spec.kind);
}

}  // namespace vane::health
