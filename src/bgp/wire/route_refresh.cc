#include "bgp/wire/route_refresh.h"

#include "bgp/wire/header.h"

namespace vane::bgp::wire {

Expected<RouteRefresh, Notification> decode_route_refresh(Bytes body) {
  Reader r(body);
  RouteRefresh rr;
  if (!r.u16(rr.afi_safi.afi) || !r.u8(rr.subtype) || !r.u8(rr.afi_safi.safi)) {
    const uint16_t len = uint16_t(body.size() + kHeaderLength);
    const uint8_t d[2] = {uint8_t(len >> 8), uint8_t(len)};
    return Unexpected(Notification::make(ErrorCode::header, HeaderSubcode::bad_message_length, d));
  }
  const bool borr_eorr =
      rr.subtype == uint8_t(RouteRefreshSubtype::begin) || rr.subtype == uint8_t(RouteRefreshSubtype::end);
  if (borr_eorr && !r.empty()) {
    std::vector<uint8_t> whole;
    const size_t start = begin_message(whole, MessageType::route_refresh);
    whole.insert(whole.end(), body.begin(), body.end());
    patch_length(whole, start);
    return Unexpected(Notification::make(ErrorCode::route_refresh, RouteRefreshSubcode::invalid_message_length, whole));
  }
  return rr;
}

std::vector<uint8_t> encode_route_refresh(const RouteRefresh& rr) {
  std::vector<uint8_t> out;
  const size_t start = begin_message(out, MessageType::route_refresh);
  Writer w(out);
  w.u16(rr.afi_safi.afi);
  w.u8(rr.subtype);
  w.u8(rr.afi_safi.safi);
  patch_length(out, start);
  return out;
}

}  // namespace vane::bgp::wire
