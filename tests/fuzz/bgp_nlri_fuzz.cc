// A run of NLRI prefixes. Input: a family byte (even: IPv4, odd: IPv6), then the prefixes.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "bgp/wire/nlri.h"
#include "fuzz_checks.h"

using namespace vane::bgp::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const auto family = data[0] & 1 ? vane::IpAddress::Family::v6 : vane::IpAddress::Family::v4;
  auto v = NlriView::parse(Bytes(data + 1, size - 1), family);
  if (!v) return 0;
  fuzz::check_view(*v);
  // Re-encoding gives the same number of bytes and, parsed again, the same prefixes.
  std::vector<uint8_t> out;
  const auto prefixes = v->to_vector();
  for (const auto& p : prefixes) {
    fuzz::check(WirePrefix::from(p.to_prefix()) == p);
    append_prefix(out, p);
  }
  fuzz::check(out.size() == size - 1);
  auto again = NlriView::parse(out, family);
  fuzz::check(again && again->to_vector() == prefixes);
  return 0;
}
