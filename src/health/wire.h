#pragma once
// Pure encoders and parsers used by the probes. Every parser is bounded and treats its input as
// untrusted: malformed input is an error value, never a crash.
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vane::health {

// HTTP: "HTTP/1.x NNN reason" -> NNN; nullopt if the line is not a status line.
std::optional<uint32_t> parse_http_status_line(std::string_view line);

// HAProxy agent-check reply, e.g. "up 75%", "drain", "down#disk full", "maint".
//
// Tokens are separated by spaces, tabs or commas and compared case-insensitively; "#" starts free
// text. Operational tokens (last one wins): up; down, fail, stopped. Administrative tokens (last
// one wins): ready, drain, maint. "N%" sets the weight. Unknown tokens are ignored as long as one
// token is understood.
struct AgentReply {
  bool ok = true;                  // no down/fail/stopped and not maint
  bool drain = false;              // "drain" (and no later "ready"/"maint")
  std::optional<uint32_t> weight;  // percent, 0..kAgentMaxWeight
  std::string text;                // after "#"
};
inline constexpr uint32_t kAgentMaxWeight = 1000;
std::expected<AgentReply, std::string> parse_agent_reply(std::string_view line);

// DNS over UDP.
// "A", "aaaa", ... -> record type; empty means A; nullopt for types the checks do not support.
std::optional<uint16_t> dns_qtype(std::string_view name);
// A recursion-desired query for (name, qtype, IN), or why the name cannot be encoded.
std::expected<std::vector<uint8_t>, std::string> encode_dns_query(uint16_t id, std::string_view name, uint16_t qtype);
struct DnsReply {
  uint8_t rcode = 0;
  uint16_t answers = 0;
  bool truncated = false;
};
// The reply to `query` (same ID, QR set, same question if it carries one), or nullopt if `packet`
// is not that reply: a late answer to an earlier query or junk, which the probe keeps waiting past.
std::optional<DnsReply> match_dns_reply(std::span<const uint8_t> packet, std::span<const uint8_t> query);
std::string dns_rcode_name(uint8_t rcode);

}  // namespace vane::health
