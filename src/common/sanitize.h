#pragma once
// Bytes that came from the network (a BGP peer's shutdown message, a site reply, an error text read
// off a socket) are shown to operators in logs and in vanectl. Printed raw, they could carry
// terminal escape sequences or forge extra log lines; every such byte goes through printable()
// before it reaches a log line or a control reply.
#include <cstddef>
#include <string>
#include <string_view>

namespace vane {

// `in` with every byte outside printable ASCII (0x20..0x7e) written as \xNN and backslash as "\\",
// cut to at most `max` input bytes (then "..." is appended). The result is plain ASCII: no control
// characters, no newlines, no invalid UTF-8.
std::string printable(std::string_view in, std::size_t max = 256);

}  // namespace vane
