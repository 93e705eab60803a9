#include "bfd/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>

namespace vane::bfd {

namespace {

// Where the hash field starts: after the mandatory section and type, length, key id, reserved,
// sequence.
constexpr size_t kHashOffset = kMandatoryLength + 8;

std::array<uint8_t, kSha1DigestLength> sha1(const std::vector<uint8_t>& data) {
  std::array<uint8_t, kSha1DigestLength> out{};
  SHA1(data.data(), data.size(), out.data());
  return out;
}

void put_key(std::vector<uint8_t>& buf, const AuthKey& key) {
  std::fill(buf.begin() + kHashOffset, buf.begin() + kHashOffset + kSha1DigestLength, 0);
  std::copy_n(key.secret.begin(), std::min(key.secret.size(), kSha1DigestLength), buf.begin() + kHashOffset);
}

bool is_sha1(AuthType t) {
  return t == AuthType::KeyedSha1 || t == AuthType::MeticulousKeyedSha1;
}

}  // namespace

std::vector<uint8_t> seal(Packet p, const AuthKey* key) {
  if (!key) {
    p.has_auth = false;
    return encode(p);
  }
  p.has_auth = true;
  p.auth.type = key->type;
  p.auth.key_id = key->key_id;
  p.auth.digest.assign(kSha1DigestLength, 0);
  auto buf = encode(p);
  put_key(buf, *key);
  auto h = sha1(buf);
  std::copy(h.begin(), h.end(), buf.begin() + kHashOffset);
  return buf;
}

bool verify(Bytes wire, const Packet& p, const AuthKey& key) {
  if (!p.has_auth || p.auth.type != key.type || !is_sha1(key.type) || p.auth.key_id != key.key_id) return false;
  // decode() has checked that the section is exactly 28 bytes at the end of Length.
  const size_t len = kMandatoryLength + kSha1AuthLength;
  if (wire.size() < len || p.auth.digest.size() != kSha1DigestLength) return false;
  std::vector<uint8_t> buf(wire.begin(), wire.begin() + len);
  put_key(buf, key);
  auto h = sha1(buf);
  return CRYPTO_memcmp(h.data(), p.auth.digest.data(), kSha1DigestLength) == 0;
}

}  // namespace vane::bfd
