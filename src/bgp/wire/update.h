#pragma once
// UPDATE decoding (RFC 4271 4.3, RFC 4760) with the error handling of RFC 7606.
//
// decode_update() either fails with the NOTIFICATION that resets the session, or returns the
// update with a disposition: normal, attribute_discard (some attributes were dropped; the routes
// stand) or treat_as_withdraw (every route the update announces must be handled as withdrawn).
// `issues` says what was dropped or found wrong, and why, for the log RFC 7606 section 6 asks for.
//
// The NLRI views point into the message buffer: the Update must not outlive it.
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "bgp/wire/attributes.h"
#include "bgp/wire/expected.h"
#include "bgp/wire/nlri.h"
#include "bgp/wire/reader.h"
#include "bgp/wire/types.h"

namespace vane::bgp::wire {

// Ordered by strength: a stronger action wins when several errors meet (RFC 7606 3.h).
enum class Disposition : uint8_t { normal = 0, attribute_discard = 1, treat_as_withdraw = 2 };

enum class IssueReason : uint8_t {
  bad_flags,                // Optional/Transitive bits not those the attribute is defined with (3.c)
  bad_length,               // length wrong for the attribute (section 7)
  bad_value,                // e.g. an undefined ORIGIN (7.1)
  malformed_as_path,        // 7.2; also AS4_PATH (RFC 6793 6)
  as_zero,                  // AS 0 in a path or aggregator (RFC 7607)
  duplicate,                // every occurrence after the first is dropped (3.g)
  attribute_overrun,        // an attribute runs past the path attribute field (section 4)
  missing_well_known,       // ORIGIN, AS_PATH or NEXT_HOP missing with routes present (3.d)
  from_external_peer,       // LOCAL_PREF, ORIGINATOR_ID or CLUSTER_LIST from an EBGP peer (7.5, 7.9, 7.10)
  as4_from_four_byte_peer,  // AS4_PATH/AS4_AGGREGATOR between four-byte speakers (RFC 6793 4.1)
  confed_in_as4_path,       // confederation segments removed from AS4_PATH (RFC 6793 6)
  family_not_negotiated,    // NLRI of an AFI/SAFI not negotiated or not implemented: ignored
  first_as_not_peer,        // an EBGP peer's path does not start with its AS (DecodeContext::peer_as)
};

struct AttributeIssue {
  uint8_t type = 0;  // attribute type code; 0 for the NLRI fields themselves
  Disposition action = Disposition::attribute_discard;
  IssueReason reason = IssueReason::bad_length;
  UpdateSubcode subcode = UpdateSubcode::malformed_attribute_list;  // what RFC 4271 would have sent
  Bytes attribute;  // the attribute as received (flags, type, length, value); view into the message
};

struct MpNlri {
  AfiSafi afi_safi;
  NlriView nlri;
};

struct Update {
  NlriView withdrawn;              // IPv4 unicast, Withdrawn Routes field
  NlriView nlri;                   // IPv4 unicast, NLRI field
  std::optional<MpNlri> mp_reach;  // next hops are in attrs.mp_next_hop / attrs.mp_link_local
  std::optional<MpNlri> mp_unreach;
  PathAttributes attrs;
  Disposition disposition = Disposition::normal;
  std::vector<AttributeIssue> issues;
  std::optional<AfiSafi> end_of_rib;  // RFC 4724 End-of-RIB marker for this family

  bool treat_as_withdraw() const { return disposition == Disposition::treat_as_withdraw; }

  // Every prefix this update removes: the withdrawn fields, plus the announced ones when the
  // update is treat-as-withdraw (RFC 7606 2).
  template <class F>
  void for_each_withdrawn(F&& f) const {
    for (const auto& p : withdrawn) f(p);
    if (mp_unreach)
      for (const auto& p : mp_unreach->nlri) f(p);
    if (treat_as_withdraw()) for_each_reachable(f);
  }
  // Every prefix this update announces with `attrs`; none under treat-as-withdraw.
  template <class F>
  void for_each_announced(F&& f) const {
    if (!treat_as_withdraw()) for_each_reachable(f);
  }

 private:
  template <class F>
  void for_each_reachable(F& f) const {
    for (const auto& p : nlri) f(p);
    if (mp_reach)
      for (const auto& p : mp_reach->nlri) f(p);
  }
};

// body: the message after the header.
Expected<Update, Notification> decode_update(Bytes body, const DecodeContext& ctx);

std::string_view to_string(Disposition d);
std::string_view to_string(IssueReason r);

}  // namespace vane::bgp::wire
