#include "common/sanitize.h"

namespace vane {

std::string printable(std::string_view in, std::size_t max) {
  static constexpr char kHex[] = "0123456789abcdef";
  const bool cut = in.size() > max;
  if (cut) in = in.substr(0, max);
  std::string out;
  out.reserve(in.size() + 3);
  for (unsigned char c : in) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c <= 0x7e) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  if (cut) out += "...";
  return out;
}

}  // namespace vane
