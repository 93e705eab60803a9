#pragma once
// Hex dumps of wire bytes: RFC 7606 section 6 asks for the malformed UPDATE to be logged whole,
// and golden test vectors read better as hex.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bgp/wire/reader.h"

namespace vane::bgp::wire {

// Lower-case pairs, no separators.
std::string to_hex(Bytes b);
// Accepts pairs separated by any amount of whitespace; nullopt on a stray character or odd digit.
std::optional<std::vector<uint8_t>> from_hex(std::string_view text);

}  // namespace vane::bgp::wire
