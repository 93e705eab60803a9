#pragma once
// One entry point for a whole framed message: header checks, then the body decoder of its type.
#include <variant>

#include "bgp/wire/builder.h"
#include "bgp/wire/expected.h"
#include "bgp/wire/header.h"
#include "bgp/wire/notification.h"
#include "bgp/wire/open.h"
#include "bgp/wire/route_refresh.h"
#include "bgp/wire/types.h"
#include "bgp/wire/update.h"

namespace vane::bgp::wire {

struct Keepalive {
  bool operator==(const Keepalive&) const = default;
};

using Message = std::variant<OpenMessage, Update, Notification, Keepalive, RouteRefresh>;

// msg starts with a message header and holds the whole message (bytes after it are not looked
// at). An Update refers into msg. The error is the NOTIFICATION to send.
Expected<Message, Notification> decode_message(Bytes msg, const DecodeContext& ctx);

}  // namespace vane::bgp::wire
