#pragma once
// The 19-byte message header (RFC 4271 4.1) and stream framing.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "bgp/wire/expected.h"
#include "bgp/wire/reader.h"
#include "bgp/wire/types.h"

namespace vane::bgp::wire {

struct Frame {
  size_t length = 0;      // whole message including the header; 0 until 19 bytes are buffered
  MessageType type{};     // valid once length != 0
  bool complete = false;  // the buffer holds the whole message
};

// Looks at the start of a receive buffer. Returns how long the next message is and whether all of
// it is there, or the header error to send (code 1: subcode 1 with no data, 2 with the erroneous
// length, 3 with the erroneous type). max_length is 4096, or 65535 after RFC 8654; OPEN is held to
// 4096 and KEEPALIVE to 19 whatever was negotiated. A bad marker is reported as soon as the
// first differing byte arrives.
Expected<Frame, Notification> frame_message(Bytes buf, size_t max_length);

// The smallest length RFC 4271 (and RFC 2918) allows for each message type.
size_t min_message_length(MessageType type);

// Appends a header with a zero length field; patch_length() fills it in once the body is written.
size_t begin_message(std::vector<uint8_t>& out, MessageType type);
void patch_length(std::vector<uint8_t>& out, size_t message_start);

std::vector<uint8_t> encode_keepalive();

}  // namespace vane::bgp::wire
