#pragma once
// One plausible answer for each view, shared by the rendering and command tests.
#include "vane/control.pb.h"

namespace vane::cli::sample {

inline control::Response neighbors() {
  control::Response r;
  r.set_version(1u << 16);
  auto* a = r.mutable_neighbors()->add_neighbors();
  a->set_name("tor1");
  a->set_address("192.0.2.1");
  a->set_remote_asn(65001);
  a->set_state("Established");
  a->set_uptime_s(3 * 86400 + 5 * 3600 + 2 * 60 + 7);
  a->set_prefixes_sent(4);
  a->set_prefixes_received(0);
  a->set_description("rack A");
  a->add_families("ipv4-unicast");
  a->add_families("ipv6-unicast");
  auto* b = r.mutable_neighbors()->add_neighbors();
  b->set_name("tor2-long-name");
  b->set_address("2001:db8::2");
  b->set_remote_asn(4200000002u);
  b->set_state("Idle");
  b->set_admin_shutdown(true);
  auto* n = b->mutable_last_notification();
  n->set_code(6);
  n->set_subcode(2);
  n->set_text("Administrative Shutdown: maintenance");
  n->set_sent(true);
  n->set_age_s(75);
  auto* c = r.mutable_neighbors()->add_neighbors();
  c->set_name("tor3");
  c->set_address("192.0.2.3");
  c->set_remote_asn(65001);
  c->set_state("Active");
  c->set_prefixes_sent(0);
  c->set_last_error("hold timer expired");
  return r;
}

inline control::Response routes() {
  control::Response r;
  auto* a = r.mutable_routes()->add_routes();
  a->set_prefix("192.0.2.0/24");
  a->set_announced(true);
  a->set_state(control::ROUTE_STATE_ANNOUNCED);
  a->add_communities("65000:100");
  a->add_large_communities("65000:1:2");
  a->set_med(10);
  a->add_reasons("web: healthy (2/2 checks up)");
  auto* b = r.mutable_routes()->add_routes();
  b->set_prefix("2001:db8:100::/48");
  b->set_state(control::ROUTE_STATE_WITHDRAWN);
  b->set_prepend(2);
  b->add_reasons("dns: check udp53 down");
  b->add_reasons("dns: drained");
  auto* c = r.mutable_routes()->add_routes();
  c->set_prefix("198.51.100.0/24");
  c->set_announced(true);
  c->set_state(control::ROUTE_STATE_DRAINING);
  c->set_med(0);
  return r;
}

inline control::Response services() {
  control::Response r;
  auto* a = r.mutable_services()->add_services();
  a->set_name("web");
  a->set_healthy(true);
  a->add_vips("192.0.2.10");
  a->add_vips("tcp/192.0.2.11:443");
  a->add_prefixes("192.0.2.0/24");
  a->set_checks(2);
  a->set_checks_up(2);
  auto* b = r.mutable_services()->add_services();
  b->set_name("dns");
  b->set_drained(true);
  b->set_checks(3);
  b->set_checks_up(1);
  return r;
}

inline control::Response health() {
  control::Response r;
  auto* a = r.mutable_health()->add_checks();
  a->set_service("web");
  a->set_name("http80");
  a->set_kind("http");
  a->set_last_ok(true);
  a->set_latency_ms(1.25);
  a->set_verdict(control::VERDICT_UP);
  a->set_transitions(1);
  a->set_detail("200 OK");
  a->set_weight(1);
  auto* b = r.mutable_health()->add_checks();
  b->set_service("dns");
  b->set_name("udp53");
  b->set_kind("dns");
  b->set_latency_ms(1000);
  b->set_verdict(control::VERDICT_DOWN);
  b->set_transitions(12);
  b->set_detail("timeout after 1s");
  b->set_weight(10);
  auto* c = r.mutable_health()->add_checks();
  c->set_service("dns");
  c->set_name("peer");
  c->set_kind("peer");
  return r;
}

inline control::Response site() {
  control::Response r;
  auto* s = r.mutable_site();
  s->set_table_generation(42);
  s->set_table_size(65537);
  auto* a = s->add_servers();
  a->set_name("s1");
  a->set_address("10.0.0.1");
  a->set_weight(100);
  a->set_healthy(true);
  a->set_is_self(true);
  auto* b = s->add_servers();
  b->set_name("s2");
  b->set_address("10.0.0.2");
  b->set_weight(0);
  s->set_site_health(true);
  s->set_site_port(6081);
  a->set_role("FORWARD_AND_SERVE");
  a->set_reach("self");
  auto* aw = a->add_services();
  aw->set_service("web");
  aw->set_weight(100);
  aw->set_healthy(true);
  aw->set_state("up");
  b->set_role("BACKEND_ONLY");
  b->set_reach("unreachable");
  b->set_error("connect: Connection refused");
  auto* bw = b->add_services();
  bw->set_service("web");
  bw->set_state("unreachable");
  auto* g = s->add_services();
  g->set_service("web");
  g->set_healthy_servers(1);
  g->set_min_healthy_servers(2);
  g->set_gate_open(false);
  s->set_auth("authenticated");
  s->add_key_ids("0123456789abcdef");
  s->set_agent_listening(true);
  b->set_refusal("bad_mac");
  auto* r1 = b->add_refused();
  r1->set_reason("bad_mac");
  r1->set_count(3);
  auto* r2 = b->add_refused();
  r2->set_reason("replay");
  r2->set_count(1);
  return r;
}

inline control::Response forwarding() {
  control::Response r;
  auto* a = r.mutable_forwarding()->add_vips();
  a->set_vip("192.0.2.10");
  a->set_proto("tcp");
  a->set_port(443);
  (*a->mutable_packets())["passed"] = 1000;
  (*a->mutable_packets())["forwarded"] = 2500000;
  (*a->mutable_packets())["local"] = 7;
  (*a->mutable_packets())["errors"] = 0;
  auto* b = r.mutable_forwarding()->add_vips();
  b->set_vip("2001:db8::53");
  b->set_proto("udp");
  (*b->mutable_packets())["passed"] = 5;
  (*b->mutable_packets())["ttl_exceeded"] = 3;
  return r;
}

}  // namespace vane::cli::sample
