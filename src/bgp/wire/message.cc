#include "bgp/wire/message.h"

namespace vane::bgp::wire {

Expected<Message, Notification> decode_message(Bytes msg, const DecodeContext& ctx) {
  auto f = frame_message(msg, ctx.max_message_length());
  if (!f) return Unexpected(f.error());
  if (!f->complete) {
    const uint16_t len = uint16_t(msg.size());
    const uint8_t d[2] = {uint8_t(len >> 8), uint8_t(len)};
    return Unexpected(Notification::make(ErrorCode::header, HeaderSubcode::bad_message_length, d));
  }
  const Bytes body = msg.subspan(kHeaderLength, f->length - kHeaderLength);
  auto wrap = [](auto&& r) -> Expected<Message, Notification> {
    if (!r) return Unexpected(std::move(r).error());
    return Message(std::move(r).value());
  };
  switch (f->type) {
    case MessageType::open:
      return wrap(decode_open(body));
    case MessageType::update:
      return wrap(decode_update(body, ctx));
    case MessageType::notification:
      return wrap(decode_notification(body));
    case MessageType::keepalive:
      return Message(Keepalive{});
    case MessageType::route_refresh:
      return wrap(decode_route_refresh(body));
  }
  return Unexpected(Notification::make(ErrorCode::header, HeaderSubcode::bad_message_type));
}

}  // namespace vane::bgp::wire
