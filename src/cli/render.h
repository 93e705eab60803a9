#pragma once
// vanectl's output: aligned tables for people, the protobuf JSON mapping for scripts. Pure
// functions of a Response so they can be tested without a daemon.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vane/control.pb.h"

namespace vane::cli {

// Columns separated by two spaces, padded to the widest cell (counted in UTF-8 code points); the
// last column is not padded so lines carry no trailing blanks.
class Table {
 public:
  enum class Align { left, right };
  explicit Table(std::vector<std::string> headers, std::vector<Align> align = {});
  void add(std::vector<std::string> row);
  std::string str() const;

 private:
  std::vector<std::vector<std::string>> rows_;  // rows_[0] is the header
  std::vector<Align> align_;
};

// "05:02:07" below a day, "3d 05:02:07" above, as gobgp shows session uptime.
std::string format_duration(uint64_t seconds);

std::string render_neighbors(const control::NeighborsReply& r, bool detail);
std::string render_routes(const control::RoutesReply& r);
std::string render_services(const control::ServicesReply& r);
std::string render_health(const control::HealthReply& r);
std::string render_site(const control::SiteReply& r);
std::string render_forwarding(const control::ForwardingReply& r);
std::string render_received(const control::ReceivedReply& r);
std::string render_action(const control::ActionReply& r);
std::string render_bfd(const control::BfdReply& r);
// A reload's plan, one section per kind of change (only those that change).
std::string render_reload_plan(const control::ReloadPlan& p);
// "error: ..." plus one indented line per detail ("FILE:LINE:COLUMN: message").
std::string render_error(const control::Response& r);

// The text for a successful response's payload; `detail` asks for the long form where there is
// one (a single neighbour).
std::string render_text(const control::Response& r, bool detail = false);
// The whole response in the protobuf JSON mapping (field names as in the .proto, defaults printed),
// with a trailing newline.
std::string render_json(const control::Response& r);

}  // namespace vane::cli
