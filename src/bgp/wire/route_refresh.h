#pragma once
// ROUTE-REFRESH (RFC 2918) with the enhanced route refresh subtypes of RFC 7313.
#include <compare>
#include <cstdint>
#include <vector>

#include "bgp/wire/expected.h"
#include "bgp/wire/reader.h"
#include "bgp/wire/types.h"

namespace vane::bgp::wire {

enum class RouteRefreshSubtype : uint8_t {
  request = 0,
  begin = 1,  // BoRR
  end = 2,    // EoRR
};

struct RouteRefresh {
  AfiSafi afi_safi;
  uint8_t subtype = 0;
  // RFC 7313 4: a message with any other subtype must be ignored, not answered with an error.
  bool known_subtype() const { return subtype <= uint8_t(RouteRefreshSubtype::end); }
  auto operator<=>(const RouteRefresh&) const = default;
};

// body: the message after the header (at least 4 bytes after framing). A BoRR or EoRR whose body
// is not exactly 4 bytes is refused with 7/1 and the whole message as data (RFC 7313 5). Bytes
// after a plain request (ORF entries, RFC 5291) are ignored: ORF is not negotiated.
Expected<RouteRefresh, Notification> decode_route_refresh(Bytes body);
std::vector<uint8_t> encode_route_refresh(const RouteRefresh& rr);

}  // namespace vane::bgp::wire
