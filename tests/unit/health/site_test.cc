// Site health, pure half: the agent reply codec, the per-peer view and the weights it gives the
// forwarding tables.
#include <gtest/gtest.h>

#include "config/config.h"
#include "health/site.h"

#include <random>

namespace vane::health {
namespace {

using State = SiteService::State;
using namespace std::chrono_literals;

SiteReport report(std::string node, std::map<std::string, SiteService> services) {
  return {std::move(node), std::move(services)};
}

TEST(SiteReply, RoundTripsEveryState) {
  auto r = report("s2", {{"web", {State::Up, 100}},
                         {"dns", {State::Drain, 100}},
                         {"mail", {State::Down, 100}},
                         {"api", {State::Up, 50}}});
  const std::string text = format_site_reply(r);
  EXPECT_EQ(text, "vane-site 1 s2\nservice api up 50\nservice dns drain\nservice mail down\nservice web up 100\nend\n");
  auto back = parse_site_reply(text);
  ASSERT_TRUE(back) << back.error();
  // Non-up states carry no percentage on the wire; compare what matters.
  EXPECT_EQ(back->node, "s2");
  EXPECT_EQ(back->services.at("api"), (SiteService{State::Up, 50}));
  EXPECT_EQ(back->services.at("web"), (SiteService{State::Up, 100}));
  EXPECT_EQ(back->services.at("dns").state, State::Drain);
  EXPECT_EQ(back->services.at("mail").state, State::Down);
}

TEST(SiteReply, EmptyServiceListIsValid) {
  auto r = parse_site_reply("vane-site 1 s3\nend\n");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->services.empty());
}

TEST(SiteReply, MalformedRepliesAreRefusedWhole) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty reply"},
      {"vane-site 1 s2\nservice web up 100\n", "reply cut short (no \"end\")"},
      {"vane-site 1 s2\nservice web up 100\nend", "reply cut short (no newline after line 3)"},
      {"vane-site 1 s2\nservice web up 100", "reply cut short (no newline after line 2)"},
      {"HTTP/1.0 200 OK\n", "line 1: not a vane site agent reply"},
      {"vane-site 2 s2\nend\n", "line 1: unsupported version 2"},
      {"vane-site 1 s\x01\nend\n", "line 1: bad node name"},
      {"vane-site 1 s2\nservice web up\nend\n", "line 2: bad service state"},
      {"vane-site 1 s2\nservice web up 1001\nend\n", "line 2: bad percentage"},
      {"vane-site 1 s2\nservice web up -1\nend\n", "line 2: bad percentage"},
      {"vane-site 1 s2\nservice web up 12x\nend\n", "line 2: bad percentage"},
      {"vane-site 1 s2\nservice web drain 5\nend\n", "line 2: bad service state"},
      {"vane-site 1 s2\nservice web sideways\nend\n", "line 2: bad service state"},
      {"vane-site 1 s2\nservice web up 100\nservice web down\nend\n", "line 3: duplicate service web"},
      {"vane-site 1 s2\nhello\nend\n", "line 2: expected \"service\" or \"end\""},
      {"vane-site 1 s2\nend\nservice web up 100\n", "line 3: data after \"end\""},
  };
  for (auto& [text, why] : cases) {
    auto r = parse_site_reply(text);
    ASSERT_FALSE(r) << "accepted: " << text;
    EXPECT_EQ(r.error(), why) << text;
  }
}

TEST(SiteReply, LimitsAreEnforced) {
  std::string big = "vane-site 1 s2\n";
  for (size_t i = 0; i <= kSiteMaxServices; ++i) big += "service s" + std::to_string(i) + " up 100\n";
  big += "end\n";
  ASSERT_LT(big.size(), kSiteMaxReply);
  auto r = parse_site_reply(big);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("too many services"), std::string::npos);
  std::string huge(kSiteMaxReply + 1, 'x');
  EXPECT_FALSE(parse_site_reply(huge));
}

TEST(SiteReply, LocalReportFromServiceHealth) {
  auto r = local_report("s1", {{"web", true, false, std::nullopt},
                               {"api", true, false, 40u},
                               {"dns", true, true, std::nullopt},
                               {"mail", false, false, std::nullopt},
                               {"undrained-down", false, true, std::nullopt}});
  EXPECT_EQ(r.node, "s1");
  EXPECT_EQ(r.services.at("web"), (SiteService{State::Up, 100}));
  EXPECT_EQ(r.services.at("api"), (SiteService{State::Up, 40}));
  EXPECT_EQ(r.services.at("dns").state, State::Drain);
  EXPECT_EQ(r.services.at("mail").state, State::Down);
  EXPECT_EQ(r.services.at("undrained-down").state, State::Drain);
}

// Not a libFuzzer target (the fuzz build is clang 14, which lacks std::expected): seeded random
// mutations of valid replies, run under ASan+UBSan with the other unit tests. Whatever the bytes,
// parsing must not crash, and anything accepted must survive a format/parse round trip unchanged.
TEST(SiteReply, MutatedRepliesNeverCrashAndAcceptedOnesRoundTrip) {
  const std::vector<std::string> seeds = {
      format_site_reply(report("s2", {{"web", {State::Up, 100}}, {"dns", {State::Drain, 100}}})),
      format_site_reply(report("edge-01.example", {{"a", {State::Up, 7}}, {"b", {State::Down, 100}}})),
      "vane-site 1 s3\nend\n",
  };
  using namespace std::string_literals;
  const std::string alphabet = "vane-site 1 service up down drain end 0123456789%\n\r\t\x00\xff"s;
  std::mt19937_64 rng(20261126);
  size_t accepted = 0;
  for (int iter = 0; iter < 100000; ++iter) {
    std::string t = seeds[rng() % seeds.size()];
    const int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = t.empty() ? 0 : rng() % (t.size() + 1);
      switch (rng() % 4) {
        case 0:  // replace a byte
          if (!t.empty() && pos < t.size()) t[pos] = alphabet[rng() % alphabet.size()];
          break;
        case 1:  // insert one
          t.insert(t.begin() + std::min(pos, t.size()), alphabet[rng() % alphabet.size()]);
          break;
        case 2:  // cut the tail
          t.resize(std::min(pos, t.size()));
          break;
        default:  // duplicate a slice
          if (!t.empty()) t.insert(std::min(pos, t.size()), t.substr(rng() % t.size(), 1 + rng() % 16));
      }
    }
    auto r = parse_site_reply(t);
    if (!r) {
      EXPECT_FALSE(r.error().empty());
      continue;
    }
    ++accepted;
    auto again = parse_site_reply(format_site_reply(*r));
    ASSERT_TRUE(again) << again.error();
    EXPECT_EQ(again->node, r->node);
    ASSERT_EQ(again->services.size(), r->services.size());
    for (auto& [name, svc] : r->services) {
      EXPECT_EQ(again->services.at(name).state, svc.state);
      if (svc.state == State::Up) {
        EXPECT_EQ(again->services.at(name).percent, svc.percent);
      }
    }
  }
  EXPECT_GT(accepted, 100u) << "the mutations should keep some replies valid";
}

// ---- SiteView -------------------------------------------------------------------------------------

const TimePoint t0{};

TEST(SiteView, ReachabilityFollowsRiseAndFall) {
  SiteView v(2, 3);
  v.set_peers({"s2"});
  ASSERT_NE(v.find("s2"), nullptr);
  EXPECT_EQ(v.find("s2")->reach, Verdict::Unknown);
  const auto ok = report("s2", {{"web", {State::Up, 100}}});
  EXPECT_TRUE(v.record("s2", ok, t0)) << "first answer: its report counts at once";
  EXPECT_EQ(v.find("s2")->reach, Verdict::Unknown);
  EXPECT_TRUE(v.record("s2", ok, t0 + 1s)) << "second answer: rise 2";
  EXPECT_EQ(v.find("s2")->reach, Verdict::Up);
  EXPECT_FALSE(v.record("s2", ok, t0 + 2s)) << "same report: nothing changed";
  EXPECT_FALSE(v.record("s2", std::unexpected("connect: refused"), t0 + 3s));
  EXPECT_FALSE(v.record("s2", std::unexpected("connect: refused"), t0 + 4s));
  EXPECT_EQ(v.find("s2")->error, "connect: refused");
  EXPECT_TRUE(v.record("s2", std::unexpected("connect: refused"), t0 + 5s)) << "third failure: fall 3";
  EXPECT_EQ(v.find("s2")->reach, Verdict::Down);
  EXPECT_EQ(v.find("s2")->answers, 3u);
  EXPECT_EQ(v.find("s2")->failures, 3u);
}

TEST(SiteView, AChangedReportIsAChangeOnlyWhileReachable) {
  SiteView v(1, 1);
  v.set_peers({"s2"});
  EXPECT_TRUE(v.record("s2", report("s2", {{"web", {State::Up, 100}}}), t0));
  EXPECT_TRUE(v.record("s2", report("s2", {{"web", {State::Drain, 100}}}), t0 + 1s));
  EXPECT_EQ(v.find("s2")->last->services.at("web").state, State::Drain);
}

TEST(SiteView, AReplyNamingAnotherServerIsAFailure) {
  SiteView v(1, 1);
  v.set_peers({"s2"});
  EXPECT_TRUE(v.record("s2", report("s3", {}), t0));
  EXPECT_EQ(v.find("s2")->reach, Verdict::Down);
  EXPECT_EQ(v.find("s2")->error, "the server at this address calls itself s3");
  EXPECT_FALSE(v.find("s2")->last);
}

TEST(SiteView, PeersKeptAcrossReconfigureKeepTheirState) {
  SiteView v(1, 1);
  v.set_peers({"s2", "s3"});
  v.record("s2", report("s2", {}), t0);
  v.set_peers({"s2", "s4"});
  EXPECT_EQ(v.find("s2")->reach, Verdict::Up);
  EXPECT_EQ(v.find("s3"), nullptr);
  EXPECT_EQ(v.find("s4")->reach, Verdict::Unknown);
  EXPECT_FALSE(v.record("s9", report("s9", {}), t0)) << "unknown peers are ignored";
}

// ---- weights --------------------------------------------------------------------------------------

config::Config site_config() {
  auto l = config::load_string(R"(
node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" }
site {
  server { name: "s1" address: "192.0.2.11" weight: 100 }
  server { name: "s2" address: "192.0.2.12" weight: 200 }
  server { name: "s3" address: "192.0.2.13" }
  server { name: "s4" address: "192.0.2.14" weight: 0 }
  server { name: "lb" address: "192.0.2.15" role: FORWARDER_ONLY }
}
forwarding { enabled: true }
)",
                               "t.conf");
  EXPECT_TRUE(l) << (l ? "" : l.error()[0].str());
  return l->proto;
}

std::map<std::string, uint32_t> by_name(const std::vector<ServerWeight>& ws) {
  std::map<std::string, uint32_t> out;
  for (auto& w : ws) out[w.name] = w.weight;
  return out;
}

TEST(SiteWeights, WithoutSiteHealthEveryOtherServerKeepsItsConfiguredWeight) {
  auto cfg = site_config();
  auto self = report("s1", {{"web", {State::Up, 100}}});
  auto w = service_weights(cfg, "web", self, nullptr);
  EXPECT_EQ(by_name(w), (std::map<std::string, uint32_t>{{"s1", 100}, {"s2", 200}, {"s3", 100}, {"s4", 0}, {"lb", 0}}));
  EXPECT_EQ(healthy_servers(w), 1u) << "only this node is known healthy";
}

TEST(SiteWeights, ThisNodeFollowsItsOwnServiceHealth) {
  auto cfg = site_config();
  for (auto [state, want] : {std::pair{State::Up, 100u}, {State::Drain, 0u}, {State::Down, 0u}}) {
    auto w = service_weights(cfg, "web", report("s1", {{"web", {state, 100}}}), nullptr);
    EXPECT_EQ(by_name(w)["s1"], want) << to_string(state);
  }
  auto half = service_weights(cfg, "web", report("s1", {{"web", {State::Up, 50}}}), nullptr);
  EXPECT_EQ(by_name(half)["s1"], 50u) << "an agent check's percentage scales the configured weight";
  auto absent = service_weights(cfg, "web", report("s1", {}), nullptr);
  EXPECT_EQ(by_name(absent)["s1"], 0u);
  EXPECT_EQ(absent[0].why, "not serving");
}

TEST(SiteWeights, OtherServersFollowWhatTheyReport) {
  auto cfg = site_config();
  SiteView v(1, 1);
  v.set_peers({"s2", "s3", "s4"});
  auto self = report("s1", {{"web", {State::Up, 100}}});
  // Not reached yet: configured weights, so a restarting vaned builds the running site's table.
  auto w = service_weights(cfg, "web", self, &v);
  EXPECT_EQ(by_name(w), (std::map<std::string, uint32_t>{{"s1", 100}, {"s2", 200}, {"s3", 100}, {"s4", 0}, {"lb", 0}}));
  EXPECT_EQ(healthy_servers(w), 1u) << "unknown servers do not count as healthy";

  // One answer is not yet `rise`, but what it says is first-hand: it is used.
  SiteView slow(3, 3);
  slow.set_peers({"s2", "s3", "s4"});
  slow.record("s3", report("s3", {{"web", {State::Down, 100}}}), t0);
  EXPECT_EQ(slow.find("s3")->reach, Verdict::Unknown);
  EXPECT_EQ(by_name(service_weights(cfg, "web", self, &slow))["s3"], 0u);
  slow.record("s2", std::unexpected("refused"), t0);
  EXPECT_EQ(by_name(service_weights(cfg, "web", self, &slow))["s2"], 200u) << "one failure is not yet `fall`";

  v.record("s2", report("s2", {{"web", {State::Up, 25}}}), t0);
  v.record("s3", report("s3", {{"web", {State::Down, 100}}}), t0);
  v.record("s4", report("s4", {{"web", {State::Up, 100}}}), t0);
  w = service_weights(cfg, "web", self, &v);
  EXPECT_EQ(by_name(w), (std::map<std::string, uint32_t>{{"s1", 100}, {"s2", 50}, {"s3", 0}, {"s4", 0}, {"lb", 0}}));
  EXPECT_EQ(healthy_servers(w), 2u) << "s1 and s2; s4 is up but at weight 0";

  v.record("s2", std::unexpected("timed out"), t0 + 1s);
  w = service_weights(cfg, "web", self, &v);
  EXPECT_EQ(by_name(w)["s2"], 0u) << "unreachable";
  EXPECT_EQ(w[1].why, "unreachable");

  auto other = service_weights(cfg, "dns", self, &v);
  EXPECT_EQ(by_name(other)["s1"], 0u) << "a service this node does not report is not served here";
}

TEST(SiteWeights, AServerAddedByAReloadGetsNoWeightBeforeItAnswers) {
  auto cfg = site_config();
  auto self = report("s1", {{"web", {State::Up, 100}}});
  SiteView v(2, 2);
  v.set_peers({"s2", "s4"});
  // s3 is in the config but not (yet) in the view: the reload's plan runs before the agent hears of it.
  EXPECT_EQ(by_name(service_weights(cfg, "web", self, &v))["s3"], 0u);
  v.set_peers({"s2", "s3", "s4"}, true);
  auto w = service_weights(cfg, "web", self, &v);
  EXPECT_EQ(by_name(w)["s3"], 0u) << "joined, never answered";
  EXPECT_EQ(w[2].why, "added, not answered yet");
  EXPECT_EQ(by_name(w)["s2"], 200u) << "kept peers keep the restart rule";
  v.record("s3", report("s3", {{"web", {State::Up, 100}}}), t0);
  EXPECT_EQ(by_name(service_weights(cfg, "web", self, &v))["s3"], 100u) << "its first reply counts";
}

TEST(SiteWeights, AForwarderOnlyNodeIsNeverAHopItself) {
  auto cfg = site_config();
  cfg.mutable_node()->set_name("lb");
  auto w = service_weights(cfg, "web", report("lb", {{"web", {State::Up, 100}}}), nullptr);
  EXPECT_EQ(by_name(w)["lb"], 0u);
  EXPECT_EQ(by_name(w)["s1"], 100u);
}

}  // namespace
}  // namespace vane::health

// ---- authentication ---------------------------------------------------------------------------------

namespace vane::health {
namespace {

std::string bytes(int from, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(char(from + i));
  return s;
}
SiteNonce nonce_from(int from) {
  SiteNonce n{};
  for (size_t i = 0; i < n.size(); ++i) n[i] = uint8_t(from + int(i));
  return n;
}
const std::string kBody = "vane-site 1 s2\nservice web up 100\nend\n";

// Golden values computed outside vane (Python's hmac and hashlib) from the layout in site.h.
TEST(SiteAuth, GoldenKeyIdAndMac) {
  const SiteKey k = make_site_key(bytes(0, 32));
  EXPECT_EQ(hex(k.id), "7c54e166daa774bd");
  EXPECT_EQ(hex(make_site_key(bytes(100, 64)).id), "3fb354df4899c1df");
  EXPECT_EQ(sign_site_reply(kBody, k, nonce_from(0xa0)),
            kBody +
                "auth 7c54e166daa774bd a0a1a2a3a4a5a6a7a8a9aaabacadaeaf "
                "8b19f38a006b885fcbcccad067e1e546382c7678f6a889941b58e552e83fe597\n");
}

TEST(SiteAuth, RequestLineRoundTripsAndIsStrict) {
  const SiteNonce n = nonce_from(7);
  const std::string line = format_site_request(n);
  EXPECT_EQ(line, "vane-site-query 1 0708090a0b0c0d0e0f10111213141516\n");
  auto back = parse_site_request(std::string_view(line).substr(0, line.size() - 1));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, n);
  for (std::string bad : std::vector<std::string>{
           "", "GET / HTTP/1.0", "vane-site-query 2 0708090a0b0c0d0e0f10111213141516",
           "vane-site-query 1 0708090a0b0c0d0e0f101112131415", "vane-site-query 1 0708090A0B0C0D0E0F10111213141516",
           "vane-site-query 1 0708090a0b0c0d0e0f10111213141516 x", std::string(200, 'a')})
    EXPECT_FALSE(parse_site_request(bad)) << bad;
  EXPECT_NE(random_site_nonce(), random_site_nonce());
}

TEST(SiteAuth, ValidSignedReplyOpens) {
  const SiteKey k = make_site_key(bytes(0, 32));
  const SiteNonce n = nonce_from(0xa0);
  auto r = open_site_reply(sign_site_reply(kBody, k, n), n, {k});
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->node, "s2");
  EXPECT_EQ(r->services.at("web").percent, 100u);
}

TEST(SiteAuth, EachFailureIsRefusedUnderItsReason) {
  const SiteKey k = make_site_key(bytes(0, 32)), other = make_site_key(bytes(1, 32));
  const SiteNonce n = nonce_from(0xa0), old = nonce_from(0x10);
  const std::string good = sign_site_reply(kBody, k, n);
  auto reason = [&](const std::string& text, const std::vector<SiteKey>& keys = {}) -> std::string {
    auto r = open_site_reply(text, n, keys.empty() ? std::vector<SiteKey>{k} : keys);
    return r ? "accepted" : std::string(to_string(r.error().reason));
  };
  EXPECT_EQ(reason(good), "accepted");
  EXPECT_EQ(reason(kBody), "missing_mac");
  // Signed with a key this server does not have: its id is unknown here.
  EXPECT_EQ(reason(sign_site_reply(kBody, other, n)), "unknown_key");
  // One MAC digit changed:
  std::string forged = good;
  forged[forged.size() - 2] = forged[forged.size() - 2] == '0' ? '1' : '0';
  EXPECT_EQ(reason(forged), "bad_mac");
  // A valid reply, made for another query (an earlier one, or one an attacker sent itself).
  EXPECT_EQ(reason(sign_site_reply(kBody, k, old)), "replay");
  // The same MAC with the nonce field rewritten to ours: the MAC does not cover this query's nonce.
  std::string renonced = sign_site_reply(kBody, k, old);
  renonced.replace(renonced.find(hex(old)), 32, hex(n));
  EXPECT_EQ(reason(renonced), "bad_mac");
  // "replay" means validly signed for another nonce, never merely "some other nonce": anyone can
  // write an auth line with a known key id (ids travel in clear) and any nonce, and must not pick
  // the reason it is refused under (nor make a forgery look like a key holder's old reply).
  std::string fake_old = kBody + "auth " + hex(k.id) + " " + hex(old) + " " + std::string(64, '0') + "\n";
  EXPECT_EQ(reason(fake_old), "bad_mac");
  std::string altered_old = sign_site_reply(kBody, k, old);
  altered_old.replace(altered_old.find("up 100"), 6, "up 999");
  EXPECT_EQ(reason(altered_old), "bad_mac");
  // Every byte of the body is covered.
  std::string tampered = good;
  tampered.replace(tampered.find("up 100"), 6, "up 999");
  EXPECT_EQ(reason(tampered), "bad_mac");
  EXPECT_EQ(reason(kBody + "auth nothing\n"), "bad_mac");
  EXPECT_EQ(reason(sign_site_reply("vane-site 1 s2\nbogus\nend\n", k, n)), "malformed");
  EXPECT_EQ(reason(std::string(kSiteMaxReply + kSiteMaxAuthLine + 1, 'x')), "too_long");
  // Signed by someone with the key: authentic but over the body limit is still refused.
  std::string big = "vane-site 1 s2\n";
  while (big.size() <= kSiteMaxReply) big += "service s" + std::to_string(big.size()) + " up 100\n";
  big += "end\n";
  EXPECT_EQ(reason(sign_site_reply(big, k, n)), "too_long");
}

TEST(SiteAuth, EitherOfTwoKeysVerifies) {
  const SiteKey a = make_site_key(bytes(0, 32)), b = make_site_key(bytes(50, 40));
  const SiteNonce n = nonce_from(3);
  EXPECT_TRUE(open_site_reply(sign_site_reply(kBody, a, n), n, {a, b}));
  EXPECT_TRUE(open_site_reply(sign_site_reply(kBody, b, n), n, {a, b}));
  EXPECT_TRUE(open_site_reply(sign_site_reply(kBody, b, n), n, {b}));
  EXPECT_FALSE(open_site_reply(sign_site_reply(kBody, a, n), n, {b}));
}

TEST(SiteAuth, WithoutKeysTheReplyIsReadAsBefore) {
  const SiteKey k = make_site_key(bytes(0, 32));
  const SiteNonce n = nonce_from(3);
  EXPECT_TRUE(open_site_reply(kBody, n, {}));
  // A signing server's reply is still understood by one without keys (the auth line is ignored).
  EXPECT_TRUE(open_site_reply(sign_site_reply(kBody, k, nonce_from(9)), n, {}));
  auto bad = open_site_reply("garbage\n", n, {});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().reason, SiteRefusal::Malformed);
}

TEST(SiteView, RefusalsAreCountedByReasonAndTheLastIsKept) {
  SiteView v(1, 2);
  v.set_peers({"s2"});
  v.record("s2", std::unexpected("MAC does not match"), t0, SiteRefusal::BadMac);
  v.record("s2", std::unexpected("replayed"), t0, SiteRefusal::Replay);
  v.record("s2", std::unexpected("replayed"), t0, SiteRefusal::Replay);
  v.record("s2", std::unexpected("timed out"), t0);  // no reply: a failure, not a refusal
  v.record("s2", report("s9", {}), t0);              // names another server
  const PeerStatus* p = v.find("s2");
  EXPECT_EQ(p->refused, (std::map<std::string, uint64_t>{{"bad_mac", 1}, {"replay", 2}, {"wrong_server", 1}}));
  EXPECT_EQ(p->refusal, "wrong_server");
  EXPECT_EQ(p->failures, 5u);
  v.record("s2", report("s2", {}), t0);
  EXPECT_EQ(v.find("s2")->refusal, "wrong_server") << "kept after a valid reply";
  EXPECT_TRUE(v.find("s2")->error.empty());
}

TEST(SiteView, PeerBytesInErrorsArePrintable) {
  SiteView v(1, 1);
  v.set_peers({"s2"});
  v.record("s2", report("s2\x1b]0;pwned\x07", {}), t0);
  EXPECT_EQ(v.find("s2")->error, "the server at this address calls itself s2\\x1b]0;pwned\\x07");
  auto r = parse_site_reply("vane-site \x1b[31m s2\nend\n");
  ASSERT_FALSE(r);
  v.record("s2", std::unexpected(r.error()), t0, SiteRefusal::Malformed);
  for (char c : v.find("s2")->error) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << v.find("s2")->error;
}

TEST(SiteWeights, PercentagesAbove100CountAs100) {
  auto cfg = site_config();
  SiteView v(1, 1);
  v.set_peers({"s2", "s3", "s4"});
  v.record("s2", report("s2", {{"web", {State::Up, 1000}}}), t0);
  v.record("s3", report("s3", {{"web", {State::Up, 101}}}), t0);
  auto self = report("s1", {{"web", {State::Up, 250}}});
  auto w = service_weights(cfg, "web", self, &v);
  EXPECT_EQ(by_name(w), (std::map<std::string, uint32_t>{{"s1", 100}, {"s2", 200}, {"s3", 100}, {"s4", 0}, {"lb", 0}}));
  EXPECT_EQ(w[1].why, "up 1000% (counted as 100%)");
  EXPECT_EQ(w[0].why, "up 250% (counted as 100%)");
}

}  // namespace
}  // namespace vane::health

namespace vane::health {
namespace {

TEST(SiteLoad, LoadLineRoundTripsAndIsStrict) {
  auto r = report("s2", {{"web", {State::Up, 100}}});
  r.load = PublishedLoad{412, 150};
  const std::string text = format_site_reply(r);
  EXPECT_EQ(text, "vane-site 1 s2\nload 412 150\nservice web up 100\nend\n");
  auto back = parse_site_reply(text);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, r);
  r.load = PublishedLoad{std::nullopt, 100};
  back = parse_site_reply(format_site_reply(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->load, r.load) << "no signal travels as \"-\"";
  EXPECT_FALSE(parse_site_reply("vane-site 1 s2\nend\n")->load) << "old replies carry none";
  for (const char* bad :
       {"vane-site 1 s2\nload 1001 100\nend\n", "vane-site 1 s2\nload 10 1001\nend\n",
        "vane-site 1 s2\nload -5 100\nend\n", "vane-site 1 s2\nload 10\nend\n", "vane-site 1 s2\nload 10 100 7\nend\n",
        "vane-site 1 s2\nload x 100\nend\n", "vane-site 1 s2\nload 10 100\nload 10 100\nend\n",
        "vane-site 1 s2\nload 10 -\nend\n", "vane-site 1 s2\nload 10 4294967296\nend\n"})
    EXPECT_FALSE(parse_site_reply(bad)) << bad;
}

TEST(SiteLoad, PublishedWeightReplacesTheConfiguredOneAndIsRangeChecked) {
  auto cfg = site_config();
  SiteView v(1, 2);
  v.set_peers({"s2", "s3", "s4"});
  v.set_load_bounds({{"s2", {50, 800}}, {"s3", {25, 400}}});
  auto self = report("s1", {{"web", {State::Up, 100}}});
  self.load = PublishedLoad{500, 130};
  auto s2 = report("s2", {{"web", {State::Up, 50}}});
  s2.load = PublishedLoad{600, 300};
  v.record("s2", s2, t0);
  auto w = service_weights(cfg, "web", self, &v);
  EXPECT_EQ(by_name(w)["s1"], 130u) << "this server's own published weight";
  EXPECT_EQ(by_name(w)["s2"], 150u) << "published 300 x the agent's 50%";
  EXPECT_EQ(w[1].why, "up 50%, load weight 300");
  // Out of the range this server allows for s2: refused, counted, not used.
  s2.load = PublishedLoad{600, 900};
  v.record("s2", s2, t0 + 1s);
  EXPECT_EQ(v.find("s2")->refused.at("out_of_range"), 1u);
  EXPECT_NE(v.find("s2")->error.find("outside 50..800"), std::string::npos);
  EXPECT_EQ(by_name(service_weights(cfg, "web", self, &v))["s2"], 150u) << "keeps its last valid weight until down";
  v.record("s2", s2, t0 + 2s);
  EXPECT_EQ(by_name(service_weights(cfg, "web", self, &v))["s2"], 0u) << "fall refusals: unreachable";
  // A changed utilisation alone is not a change for the tables; a changed weight is.
  auto s3 = report("s3", {{"web", {State::Up, 100}}});
  s3.load = PublishedLoad{100, 100};
  EXPECT_TRUE(v.record("s3", s3, t0));
  s3.load->utilisation = 900;
  EXPECT_FALSE(v.record("s3", s3, t0 + 1s));
  EXPECT_EQ(v.find("s3")->last->load->utilisation, 900u) << "but the view keeps it for the load loop";
  s3.load->weight = 102;
  EXPECT_TRUE(v.record("s3", s3, t0 + 2s));
}

}  // namespace
}  // namespace vane::health
