#include "health/wire.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace vane::health {

namespace {

char lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<uint32_t> parse_http_status_line(std::string_view line) {
  if (!line.starts_with("HTTP/")) return std::nullopt;
  line.remove_prefix(5);
  const size_t sp = line.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  const std::string_view version = line.substr(0, sp);
  const size_t dot = version.find('.');
  if (dot == std::string_view::npos || !all_digits(version.substr(0, dot)) || !all_digits(version.substr(dot + 1)))
    return std::nullopt;
  std::string_view rest = line.substr(sp + 1);
  if (rest.size() < 3 || !all_digits(rest.substr(0, 3))) return std::nullopt;
  if (rest.size() > 3 && rest[3] != ' ' && rest[3] != '\r') return std::nullopt;
  uint32_t code = 0;
  std::from_chars(rest.data(), rest.data() + 3, code);
  if (code < 100 || code > 599) return std::nullopt;
  return code;
}

std::expected<AgentReply, std::string> parse_agent_reply(std::string_view line) {
  AgentReply r;
  if (const size_t hash = line.find('#'); hash != std::string_view::npos) {
    r.text = std::string(trim(line.substr(hash + 1)));
    line = line.substr(0, hash);
  }
  enum class Op { None, Up, Down } op = Op::None;
  enum class Admin { None, Ready, Drain, Maint } admin = Admin::None;
  bool understood = false;
  size_t i = 0;
  while (i < line.size()) {
    const size_t end = line.find_first_of(" \t,\r\n", i);
    const std::string_view tok = line.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
    i = end == std::string_view::npos ? line.size() : end + 1;
    if (tok.empty()) continue;
    if (tok.back() == '%') {
      const std::string_view digits = tok.substr(0, tok.size() - 1);
      uint32_t w = 0;
      if (!all_digits(digits) || digits.size() > 4) return std::unexpected("bad weight '" + std::string(tok) + "'");
      std::from_chars(digits.data(), digits.data() + digits.size(), w);
      if (w > kAgentMaxWeight) return std::unexpected("weight out of range '" + std::string(tok) + "'");
      r.weight = w;
      understood = true;
    } else if (iequals(tok, "up")) {
      op = Op::Up, understood = true;
    } else if (iequals(tok, "down") || iequals(tok, "fail") || iequals(tok, "stopped")) {
      op = Op::Down, understood = true;
    } else if (iequals(tok, "ready")) {
      admin = Admin::Ready, understood = true;
    } else if (iequals(tok, "drain")) {
      admin = Admin::Drain, understood = true;
    } else if (iequals(tok, "maint")) {
      admin = Admin::Maint, understood = true;
    }
  }
  if (!understood) return std::unexpected("unrecognised agent reply '" + std::string(trim(line)) + "'");
  r.ok = op != Op::Down && admin != Admin::Maint;
  r.drain = admin == Admin::Drain;
  return r;
}

std::optional<uint16_t> dns_qtype(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, uint16_t>, 9> kTypes{{
      {"A", 1},
      {"NS", 2},
      {"CNAME", 5},
      {"SOA", 6},
      {"PTR", 12},
      {"MX", 15},
      {"TXT", 16},
      {"AAAA", 28},
      {"SRV", 33},
  }};
  if (name.empty()) return 1;
  for (const auto& [n, t] : kTypes) {
    if (iequals(n, name)) return t;
  }
  return std::nullopt;
}

std::expected<std::vector<uint8_t>, std::string> encode_dns_query(uint16_t id, std::string_view name, uint16_t qtype) {
  std::vector<uint8_t> q = {
      static_cast<uint8_t>(id >> 8),
      static_cast<uint8_t>(id),
      0x01,
      0x00,  // RD
      0,
      1,
      0,
      0,
      0,
      0,
      0,
      0,  // one question
  };
  if (name.ends_with('.')) name.remove_suffix(1);
  size_t wire_len = 1;
  while (!name.empty()) {
    const size_t dot = name.find('.');
    const std::string_view label = name.substr(0, dot);
    if (label.empty()) return std::unexpected("empty label in query name");
    if (label.size() > 63) return std::unexpected("label longer than 63 bytes in query name");
    wire_len += label.size() + 1;
    if (wire_len > 255) return std::unexpected("query name longer than 255 bytes");
    q.push_back(static_cast<uint8_t>(label.size()));
    q.insert(q.end(), label.begin(), label.end());
    name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
  }
  q.push_back(0);
  q.insert(q.end(), {static_cast<uint8_t>(qtype >> 8), static_cast<uint8_t>(qtype), 0, 1});
  return q;
}

std::optional<DnsReply> match_dns_reply(std::span<const uint8_t> packet, std::span<const uint8_t> query) {
  if (packet.size() < 12 || query.size() < 12) return std::nullopt;
  if (packet[0] != query[0] || packet[1] != query[1]) return std::nullopt;
  if ((packet[2] & 0x80) == 0) return std::nullopt;  // a query, not a response
  const uint16_t qdcount = static_cast<uint16_t>(packet[4] << 8 | packet[5]);
  if (qdcount > 1) return std::nullopt;
  if (qdcount == 1) {
    // Servers echo the question; comparing it catches replies meant for another query that happened
    // to reuse the ID. Case-insensitive: some servers and resolvers change the case of names.
    const std::span<const uint8_t> question = query.subspan(12);
    if (packet.size() < 12 + question.size()) return std::nullopt;
    for (size_t k = 0; k < question.size(); ++k) {
      if (std::tolower(packet[12 + k]) != std::tolower(question[k])) return std::nullopt;
    }
  }
  DnsReply r;
  r.rcode = packet[3] & 0x0f;
  r.truncated = (packet[2] & 0x02) != 0;
  r.answers = static_cast<uint16_t>(packet[6] << 8 | packet[7]);
  return r;
}

std::string dns_rcode_name(uint8_t rcode) {
  static constexpr std::array<std::string_view, 6> kNames{"NOERROR",  "FORMERR", "SERVFAIL",
                                                          "NXDOMAIN", "NOTIMP",  "REFUSED"};
  if (rcode < kNames.size()) return std::string(kNames[rcode]);
  return "RCODE" + std::to_string(rcode);
}

}  // namespace vane::health
