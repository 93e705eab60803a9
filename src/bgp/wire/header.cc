#include "bgp/wire/header.h"

namespace vane::bgp::wire {

size_t min_message_length(MessageType type) {
  switch (type) {
    case MessageType::open:
      return 29;
    case MessageType::update:
      return 23;
    case MessageType::notification:
      return 21;
    case MessageType::keepalive:
      return 19;
    case MessageType::route_refresh:
      return 23;
  }
  return kHeaderLength;
}

namespace {

Notification bad_length(uint16_t len) {
  const uint8_t d[2] = {uint8_t(len >> 8), uint8_t(len)};
  return Notification::make(ErrorCode::header, HeaderSubcode::bad_message_length, d);
}

}  // namespace

Expected<Frame, Notification> frame_message(Bytes buf, size_t max_length) {
  const size_t marker_seen = buf.size() < kMarkerLength ? buf.size() : kMarkerLength;
  for (size_t i = 0; i < marker_seen; ++i)
    if (buf[i] != 0xff)
      return Unexpected(Notification::make(ErrorCode::header, HeaderSubcode::connection_not_synchronized));
  if (buf.size() < kHeaderLength) return Frame{};

  Reader r(buf.subspan(kMarkerLength));
  uint16_t len = 0;
  uint8_t type = 0;
  if (!r.u16(len) || !r.u8(type)) return Frame{};
  if (len < kHeaderLength || len > max_length) return Unexpected(bad_length(len));
  if (type < uint8_t(MessageType::open) || type > uint8_t(MessageType::route_refresh)) {
    const uint8_t d[1] = {type};
    return Unexpected(Notification::make(ErrorCode::header, HeaderSubcode::bad_message_type, d));
  }
  const auto t = MessageType(type);
  if (len < min_message_length(t)) return Unexpected(bad_length(len));
  // RFC 8654 section 4: extended messages never apply to OPEN or KEEPALIVE.
  if (t == MessageType::open && len > kMaxMessageLength) return Unexpected(bad_length(len));
  if (t == MessageType::keepalive && len != kHeaderLength) return Unexpected(bad_length(len));
  return Frame{len, t, buf.size() >= len};
}

size_t begin_message(std::vector<uint8_t>& out, MessageType type) {
  const size_t start = out.size();
  Writer w(out);
  w.fill(kMarkerLength, 0xff);
  w.u16(0);
  w.u8(uint8_t(type));
  return start;
}

void patch_length(std::vector<uint8_t>& out, size_t start) {
  Writer(out).put_u16_at(start + kMarkerLength, uint16_t(out.size() - start));
}

std::vector<uint8_t> encode_keepalive() {
  std::vector<uint8_t> out;
  patch_length(out, begin_message(out, MessageType::keepalive));
  return out;
}

}  // namespace vane::bgp::wire
