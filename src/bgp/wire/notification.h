#pragma once
// NOTIFICATION (RFC 4271 4.5), Cease subcodes (RFC 4486) and the shutdown communication
// (RFC 8203, extended to 255 bytes by RFC 9003).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bgp/wire/expected.h"
#include "bgp/wire/reader.h"
#include "bgp/wire/types.h"

namespace vane::bgp::wire {

inline constexpr size_t kMaxShutdownCommunication = 255;

// body: the message after the header (at least 2 bytes; frame_message guarantees it). Any code
// and subcode are accepted: a NOTIFICATION cannot be answered with another one (RFC 4271 6.4).
Expected<Notification, Notification> decode_notification(Bytes body);
std::vector<uint8_t> encode_notification(const Notification& n);

// Cease with subcode 2 or 4 and a shutdown communication: cut to 255 bytes at a UTF-8 character
// boundary. RFC 9003 asks for at most 128 bytes unless the peer is known to accept 255; that
// choice is the caller's.
// RFC 8203/9003 shutdown communication: a length byte then UTF-8, at most 255 bytes, cut on a
// character boundary. Empty text encodes as no data at all, which every peer understands. The
// only encoder: the FSM's administrative stops and make_shutdown use it.
std::vector<uint8_t> encode_shutdown_communication(std::string_view text);
Notification make_shutdown(CeaseSubcode subcode, std::string_view message);
// Cease/Maximum Number of Prefixes Reached with the RFC 4486 data (AFI, SAFI, upper bound).
Notification make_max_prefixes(AfiSafi family, uint32_t limit);

enum class ShutdownCommunicationError : uint8_t { bad_length, bad_utf8 };
// The shutdown communication of a Cease 2/4 NOTIFICATION; empty when there is none (or the
// NOTIFICATION is another kind). An invalid one must not be shown to anyone (RFC 9003 section 2).
Expected<std::string, ShutdownCommunicationError> shutdown_communication(const Notification& n);

// RFC 3629 shortest form; no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view s);

// "Cease / Administrative Shutdown", "UPDATE Message Error / Malformed AS_PATH", ... for logs.
std::string describe(const Notification& n);

}  // namespace vane::bgp::wire
