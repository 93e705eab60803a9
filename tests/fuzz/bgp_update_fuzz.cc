// An UPDATE body (after the header) under a decode context taken from the first input byte.
#include <cstddef>
#include <cstdint>

#include "bgp/wire/update.h"
#include "fuzz_checks.h"

using namespace vane::bgp::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const DecodeContext ctx = fuzz::context_from(data[0]);
  const Bytes body(data + 1, size - 1);
  auto u = decode_update(body, ctx);
  if (!u) {
    fuzz::check(u.error().code == uint8_t(ErrorCode::update));
    fuzz::check(u.error().data.size() <= kMaxNotificationData);
    return 0;
  }
  fuzz::check_update(*u, body);
  return 0;
}
