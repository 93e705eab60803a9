#pragma once
// IP addresses and prefixes as values: parsing, printing, containment. No sockets here.
#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vane {

struct IpAddress {
  enum class Family : uint8_t { v4 = 4, v6 = 6 };
  Family family = Family::v4;
  // Network byte order; an IPv4 address uses the first 4 bytes, the rest are zero.
  std::array<uint8_t, 16> bytes{};

  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress v4(uint32_t host_order);
  bool is_v4() const { return family == Family::v4; }
  bool is_v6() const { return family == Family::v6; }
  int bits() const { return is_v4() ? 32 : 128; }
  int size() const { return is_v4() ? 4 : 16; }
  uint32_t v4_host_order() const;
  bool is_loopback() const;
  bool is_unspecified() const;
  bool is_link_local() const;  // fe80::/10 (IPv6 only)
  std::string str() const;

  auto operator<=>(const IpAddress&) const = default;
};

struct Prefix {
  IpAddress addr;
  uint8_t len = 0;

  // "A/L"; a bare address is a host prefix. Host bits set after the length are an error.
  static std::optional<Prefix> parse(std::string_view text, std::string* why = nullptr);
  bool contains(const IpAddress& a) const;
  bool contains(const Prefix& p) const;
  std::string str() const;

  auto operator<=>(const Prefix&) const = default;
};

}  // namespace vane
