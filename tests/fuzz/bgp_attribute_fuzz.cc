// One path attribute, framed correctly, inside an otherwise valid UPDATE, so the fuzzer spends
// its time on attribute values rather than on the lengths around them.
// Input: context byte, flags, type code, value.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "bgp/wire/update.h"
#include "fuzz_checks.h"

using namespace vane::bgp::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3 || size > 60000) return 0;
  const DecodeContext ctx = fuzz::context_from(data[0]);
  const uint8_t flags = data[1], type = data[2];
  const Bytes value(data + 3, size - 3);

  std::vector<uint8_t> attrs{0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4, 192, 0, 2, 1};
  append_attribute(attrs, flags, type, value);
  std::vector<uint8_t> body{0, 0, uint8_t(attrs.size() >> 8), uint8_t(attrs.size())};
  body.insert(body.end(), attrs.begin(), attrs.end());
  body.insert(body.end(), {24, 203, 0, 113});

  auto u = decode_update(body, ctx);
  if (!u) {
    fuzz::check(u.error().code == uint8_t(ErrorCode::update));
    return 0;
  }
  fuzz::check_update(*u, body);
  return 0;
}
