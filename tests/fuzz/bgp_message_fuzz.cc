// A stream of whole messages, header included: framing, then every body decoder.
// Input: one context byte, then the stream.
#include <cstddef>
#include <cstdint>

#include "bgp/wire/message.h"
#include "fuzz_checks.h"

using namespace vane::bgp::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const DecodeContext ctx = fuzz::context_from(data[0]);
  Bytes rest(data + 1, size - 1);
  while (!rest.empty()) {
    auto f = frame_message(rest, ctx.max_message_length());
    if (!f) {
      fuzz::check(f.error().data.size() <= kMaxNotificationData);
      return 0;
    }
    if (!f->complete) return 0;
    fuzz::check(f->length >= kHeaderLength && f->length <= rest.size());
    const Bytes msg = rest.first(f->length);
    auto m = decode_message(msg, ctx);
    if (!m) {
      fuzz::check(encode_notification(m.error()).size() <= kMaxMessageLength);
    } else if (auto* u = std::get_if<Update>(&*m)) {
      fuzz::check_update(*u, msg);
    } else if (auto* o = std::get_if<OpenMessage>(&*m)) {
      auto again = decode_open(Bytes(encode_open(*o)).subspan(kHeaderLength));
      fuzz::check(again && *again == *o);
      (void)check_open(*o, {});
      (void)negotiate(*o, *o);
    } else if (auto* n = std::get_if<Notification>(&*m)) {
      (void)shutdown_communication(*n);
      (void)describe(*n);
      if (n->data.size() <= kMaxNotificationData) {
        auto again = decode_notification(Bytes(encode_notification(*n)).subspan(kHeaderLength));
        fuzz::check(again && *again == *n);
      }
    } else if (auto* rr = std::get_if<RouteRefresh>(&*m)) {
      auto again = decode_route_refresh(Bytes(encode_route_refresh(*rr)).subspan(kHeaderLength));
      fuzz::check(again && *again == *rr);
    }
    rest = rest.subspan(f->length);
  }
  return 0;
}
