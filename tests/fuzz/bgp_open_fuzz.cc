// An OPEN body: optional parameters, RFC 9072 lengths, capabilities; then the checks and
// negotiation a session runs on it.
#include <cstddef>
#include <cstdint>

#include "bgp/wire/header.h"
#include "bgp/wire/open.h"
#include "fuzz_support.h"

using namespace vane::bgp::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto m = decode_open(Bytes(data, size));
  if (!m) {
    fuzz::check(m.error().code == uint8_t(ErrorCode::open) || m.error().code == uint8_t(ErrorCode::header));
    return 0;
  }
  (void)check_open(*m, {65001, 0xc0000201, true});
  auto n = negotiate(OpenMessage::make(65001, 90, 1, {}), *m);
  fuzz::check(n.hold_time <= 90);
  auto wire = encode_open(*m);
  if (wire.size() > kMaxMessageLength) return 0;
  auto again = decode_open(Bytes(wire).subspan(kHeaderLength));
  fuzz::check(again && *again == *m);
  return 0;
}
