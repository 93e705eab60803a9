#pragma once
// Keyed SHA1 and meticulous keyed SHA1 (RFC 5880 §6.7.4): the hash is SHA1 over the whole packet
// with the hash field holding the key, zero-padded to 20 bytes. The hash comes from OpenSSL.
#include <cstdint>
#include <vector>

#include "bfd/packet.h"

namespace vane::bfd {

struct AuthKey {
  AuthType type = AuthType::KeyedSha1;  // KeyedSha1 or MeticulousKeyedSha1
  uint8_t key_id = 1;
  std::vector<uint8_t> secret;  // 1..20 bytes
  bool operator==(const AuthKey&) const = default;
};

inline constexpr size_t kMaxSha1KeyLength = 20;

// The packet on the wire: p with its authentication section (type, key id, p.auth.sequence) and
// the hash. Without a key, the bare encoding.
std::vector<uint8_t> seal(Packet p, const AuthKey* key);

// Whether `wire` (the first p's-Length bytes) carries a hash made with `key`. Checks the type and
// key id too; the sequence number is the session's to judge.
bool verify(Bytes wire, const Packet& p, const AuthKey& key);

}  // namespace vane::bfd
