#pragma once
// The control protocol's framing and request validation, with no I/O: a frame is a 4-byte
// big-endian length followed by that many bytes of a serialized Request or Response.
#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <system_error>

#include "vane/control.pb.h"

namespace vane::control {

inline constexpr uint32_t kProtocolMajor = 1;
inline constexpr uint32_t kProtocolMinor = 0;
inline constexpr uint32_t kProtocolVersion = (kProtocolMajor << 16) | kProtocolMinor;
constexpr uint32_t version_major(uint32_t v) {
  return v >> 16;
}
constexpr uint32_t version_minor(uint32_t v) {
  return v & 0xffff;
}

inline constexpr std::size_t kHeaderSize = 4;
// Requests are tiny; the bound keeps an untrusted peer from making the daemon allocate.
inline constexpr std::size_t kMaxRequestSize = 64 * 1024;
// A large site's route and health views fit comfortably; beyond this something is wrong.
inline constexpr std::size_t kMaxResponseSize = 16 * 1024 * 1024;

enum class Errc {
  ok = 0,
  truncated,    // fewer bytes than the header or its length announce
  too_large,    // the announced length exceeds the limit
  malformed,    // the body does not parse as the expected message
  unreachable,  // no daemon listening at the socket path (client side)
  timeout,      // the peer did not complete a read or write in time
  closed,       // the peer closed the connection before a whole frame
};
const std::error_category& control_category();
std::error_code make_error_code(Errc e);

// Big-endian length header.
void put_header(uint32_t length, char out[kHeaderSize]);
uint32_t get_header(const char in[kHeaderSize]);

// Serializes `msg` into a frame. Fails with too_large when the body exceeds `max_body`.
std::expected<std::string, std::error_code> encode_frame(const google::protobuf::MessageLite& msg,
                                                         std::size_t max_body);
// Finds the body of the first frame in `buf`: truncated if `buf` does not yet hold a whole frame,
// too_large if the header announces more than `max_body` (without waiting for the bytes).
// `consumed` receives the frame's total size on success.
std::expected<std::string_view, std::error_code> split_frame(std::string_view buf, std::size_t max_body,
                                                             std::size_t* consumed = nullptr);

// Builds an error response with the daemon's version filled in.
Response error_response(ErrorCode code, std::string message);

// Parses and checks a request body. Anything the daemon must not act on (unparsable, wrong major
// version, no known command) comes back as the error Response to send instead.
std::expected<Request, Response> decode_request(std::string_view body);

// Parses a response body (client side).
std::expected<Response, std::error_code> decode_response(std::string_view body);

// Name of the request's command for logs ("show_neighbors", ...; "none" when unset).
std::string_view command_name(const Request& req);

}  // namespace vane::control

template <>
struct std::is_error_code_enum<vane::control::Errc> : std::true_type {};
