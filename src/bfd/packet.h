#pragma once
// The BFD Control packet (RFC 5880 §4): a pure codec. decode() applies every check of RFC 5880
// §6.8.6 that needs only the packet itself; the checks that need a session (discriminators, the
// authentication in use, sequence numbers) are the session's.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "bgp/wire/expected.h"

namespace vane::bfd {

using Bytes = std::span<const uint8_t>;

enum class State : uint8_t { AdminDown = 0, Down = 1, Init = 2, Up = 3 };
const char* state_name(State s);

// RFC 5880 §4.1 diagnostic codes.
enum class Diag : uint8_t {
  None = 0,
  DetectionTimeExpired = 1,
  EchoFailed = 2,
  NeighborSignaledDown = 3,
  ForwardingPlaneReset = 4,
  PathDown = 5,
  ConcatenatedPathDown = 6,
  AdminDown = 7,
  ReverseConcatenatedPathDown = 8,
  // 9..31 are assigned elsewhere (e.g. RFC 6428) or reserved: kept as received, never refused.
};
const char* diag_name(Diag d);

enum class AuthType : uint8_t {
  None = 0,
  SimplePassword = 1,
  KeyedMd5 = 2,
  MeticulousKeyedMd5 = 3,
  KeyedSha1 = 4,
  MeticulousKeyedSha1 = 5,
};

inline constexpr size_t kMandatoryLength = 24;
inline constexpr size_t kSha1AuthLength = 28;  // type, length, key id, reserved, sequence, 20-byte hash
inline constexpr size_t kMd5AuthLength = 24;
inline constexpr size_t kSha1DigestLength = 20;
inline constexpr size_t kMaxPacketLength = kMandatoryLength + kSha1AuthLength;

// The authentication section as read; digest holds the password, or the MD5/SHA1 hash field.
struct Auth {
  AuthType type = AuthType::None;
  uint8_t key_id = 0;
  uint32_t sequence = 0;        // keyed types only
  std::vector<uint8_t> digest;  // password (1..16) or hash (16 or 20 bytes)
  bool operator==(const Auth&) const = default;
};

struct Packet {
  Diag diag = Diag::None;
  State state = State::Down;
  bool poll = false, final = false;
  bool cpi = false;  // control plane independent
  bool demand = false;
  uint8_t detect_mult = 3;
  uint32_t my_discr = 0, your_discr = 0;
  uint32_t desired_min_tx_us = 0, required_min_rx_us = 0, required_min_echo_rx_us = 0;
  bool has_auth = false;
  Auth auth;
  bool operator==(const Packet&) const = default;
};

enum class DecodeError : uint8_t {
  TooShort,    // fewer bytes than the mandatory section, or than Length says
  BadVersion,  // not version 1
  BadLength,   // Length below the minimum, or not what the authentication section needs
  ZeroDetectMult,
  Multipoint,  // M bit set
  ZeroMyDiscr,
  BadAuthLength,  // Auth Len does not fit the type or the packet
  UnknownAuthType,
};
const char* error_name(DecodeError e);

// `data` is the UDP payload. Trailing bytes past Length are ignored (RFC 5880 §6.8.6 only
// refuses a Length beyond the payload).
// (The codec avoids <expected> so that the clang fuzz build takes it, like the BGP codec.)
bgp::wire::Expected<Packet, DecodeError> decode(Bytes data);

// Writes the mandatory section and, when has_auth, the authentication section with its digest
// field as given (auth.cc fills in the hash afterwards).
std::vector<uint8_t> encode(const Packet& p);

std::string describe(const Packet& p);

}  // namespace vane::bfd
