// A BFD Control packet: decode, re-encode, and a session's reception of it (discriminator,
// authentication and sequence checks, then the state machine), the first byte choosing the
// session's state and key.
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "bfd/packet.h"
#include "bfd/session.h"

namespace {
void check(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

using namespace vane::bfd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  Bytes wire(data + 1, size - 1);
  auto p = decode(wire);
  if (!p) return 0;
  // Everything Length covers comes back (the auth section's reserved byte as zero).
  auto again = encode(*p);
  check(again.size() == wire[3]);
  auto back = decode(again);
  check(back && *back == *p);
  check(p->detect_mult != 0 && p->my_discr != 0);

  SessionConfig cfg;
  if (mode & 1) cfg.key = AuthKey{mode & 2 ? AuthType::MeticulousKeyedSha1 : AuthType::KeyedSha1, 1, {'k'}};
  TimePoint t0{};
  Session s(p->your_discr ? p->your_discr : 7, cfg, mode, t0);
  if (mode & 4) s.set_admin_down(true, t0);
  auto v = s.receive(*p, wire, t0 + std::chrono::milliseconds(1));
  check(v == Verdict::Accepted || s.counters().packets_received == 0);
  // Twice: the second copy tests the sequence window.
  (void)s.receive(*p, wire, t0 + std::chrono::milliseconds(2));
  for (int i = 0; i < 4; i++) {
    auto next = s.next_deadline();
    check(next >= t0);
    s.expire(next == TimePoint::max() ? t0 + std::chrono::seconds(100) : next);
    auto out = s.take_packet();
    if (!out) continue;
    auto mine = decode(*out);
    check(bool(mine));
    check(!(mine->poll && mine->final));
    check(mine->my_discr == s.local_discr());
  }
  return 0;
}
