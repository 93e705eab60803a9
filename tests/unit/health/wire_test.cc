// Parsers and encoders behind the probes: agent replies, HTTP status lines, DNS packets.
#include "health/wire.h"

#include <gtest/gtest.h>

namespace vane::health {
namespace {

TEST(AgentReply, UpWithPercentageCarriesWeight) {
  auto r = parse_agent_reply("up 75%");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok);
  EXPECT_FALSE(r->drain);
  EXPECT_EQ(r->weight, 75u);
}

TEST(AgentReply, EachStateToken) {
  struct Case {
    const char* line;
    bool ok, drain;
  };
  for (const Case& c : {Case{"up", true, false}, Case{"ready", true, false}, Case{"drain", true, true},
                        Case{"maint", false, false}, Case{"down", false, false}, Case{"fail", false, false},
                        Case{"stopped", false, false}, Case{"UP", true, false}, Case{"Drain", true, true}}) {
    auto r = parse_agent_reply(c.line);
    ASSERT_TRUE(r) << c.line;
    EXPECT_EQ(r->ok, c.ok) << c.line;
    EXPECT_EQ(r->drain, c.drain) << c.line;
    EXPECT_FALSE(r->weight) << c.line;
  }
}

TEST(AgentReply, CombinationsAndSeparators) {
  auto r = parse_agent_reply("ready,up\t50%");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok);
  EXPECT_EQ(r->weight, 50u);
  r = parse_agent_reply("drain 0%");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->drain);
  EXPECT_EQ(r->weight, 0u);
  r = parse_agent_reply("drain ready");  // the last administrative token wins
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->drain);
  r = parse_agent_reply("up maint");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
}

TEST(AgentReply, WeightAloneMeansUp) {
  auto r = parse_agent_reply("100%");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok);
  EXPECT_EQ(r->weight, 100u);
}

TEST(AgentReply, TextAfterHashIsKept) {
  auto r = parse_agent_reply("down#disk full ");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->text, "disk full");
}

TEST(AgentReply, RejectsGarbage) {
  EXPECT_FALSE(parse_agent_reply(""));
  EXPECT_FALSE(parse_agent_reply("hello world"));
  EXPECT_FALSE(parse_agent_reply("up x%"));
  EXPECT_FALSE(parse_agent_reply("up 5000%"));
  EXPECT_FALSE(parse_agent_reply("up 99999999999999%"));
  EXPECT_FALSE(parse_agent_reply("%"));
  EXPECT_FALSE(parse_agent_reply("#up"));
}

TEST(AgentReply, UnknownTokensBesideKnownOnesAreIgnored) {
  auto r = parse_agent_reply("up foo");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok);
}

TEST(HttpStatusLine, Parses) {
  EXPECT_EQ(parse_http_status_line("HTTP/1.1 200 OK"), 200u);
  EXPECT_EQ(parse_http_status_line("HTTP/1.0 503 Service Unavailable"), 503u);
  EXPECT_EQ(parse_http_status_line("HTTP/1.1 204"), 204u);
  EXPECT_FALSE(parse_http_status_line("HTTP/1.1 2000 OK"));
  EXPECT_FALSE(parse_http_status_line("HTTP/1.1 20 OK"));
  EXPECT_FALSE(parse_http_status_line("HTTP/x.1 200 OK"));
  EXPECT_FALSE(parse_http_status_line("SSH-2.0-OpenSSH"));
  EXPECT_FALSE(parse_http_status_line("HTTP/1.1 099 Low"));
  EXPECT_FALSE(parse_http_status_line(""));
}

TEST(Dns, QueryTypes) {
  EXPECT_EQ(dns_qtype(""), 1);
  EXPECT_EQ(dns_qtype("A"), 1);
  EXPECT_EQ(dns_qtype("aaaa"), 28);
  EXPECT_EQ(dns_qtype("NS"), 2);
  EXPECT_EQ(dns_qtype("SOA"), 6);
  EXPECT_EQ(dns_qtype("TXT"), 16);
  EXPECT_EQ(dns_qtype("MX"), 15);
  EXPECT_EQ(dns_qtype("CNAME"), 5);
  EXPECT_EQ(dns_qtype("PTR"), 12);
  EXPECT_EQ(dns_qtype("SRV"), 33);
  EXPECT_FALSE(dns_qtype("ANY"));
}

TEST(Dns, EncodesQuery) {
  auto q = encode_dns_query(0xbeef, "www.example.", 28);
  ASSERT_TRUE(q);
  const std::vector<uint8_t> want = {0xbe, 0xef, 0x01, 0x00, 0,   1,   0,   0,   0,   0, 0, 0,  3, 'w', 'w',
                                     'w',  7,    'e',  'x',  'a', 'm', 'p', 'l', 'e', 0, 0, 28, 0, 1};
  EXPECT_EQ(*q, want);
  auto root = encode_dns_query(1, ".", 2);
  ASSERT_TRUE(root);
  EXPECT_EQ(root->size(), 12u + 1 + 4);
}

TEST(Dns, RejectsBadNames) {
  EXPECT_FALSE(encode_dns_query(1, "a..b", 1));
  EXPECT_FALSE(encode_dns_query(1, std::string(64, 'a'), 1));
  std::string longname;
  for (int i = 0; i < 50; ++i) longname += "abcde.";
  EXPECT_FALSE(encode_dns_query(1, longname, 1));
}

std::vector<uint8_t> reply_to(const std::vector<uint8_t>& q, uint8_t rcode) {
  auto r = q;
  r[2] |= 0x80;
  r[3] = static_cast<uint8_t>((r[3] & 0xf0) | rcode);
  r[7] = 1;  // one answer (not parsed beyond the count)
  return r;
}

TEST(Dns, MatchesReplyAndReadsRcode) {
  auto q = *encode_dns_query(0x1234, "example", 1);
  auto m = match_dns_reply(reply_to(q, 3), q);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->rcode, 3);
  EXPECT_EQ(m->answers, 1);
  EXPECT_EQ(dns_rcode_name(m->rcode), "NXDOMAIN");
  EXPECT_EQ(dns_rcode_name(11), "RCODE11");
}

TEST(Dns, IgnoresWhatIsNotOurReply) {
  auto q = *encode_dns_query(0x1234, "example", 1);
  auto wrong_id = reply_to(q, 0);
  wrong_id[1] ^= 1;
  EXPECT_FALSE(match_dns_reply(wrong_id, q));
  EXPECT_FALSE(match_dns_reply(q, q));  // QR clear: a query
  auto other_name = reply_to(*encode_dns_query(0x1234, "exbmple", 1), 0);
  EXPECT_FALSE(match_dns_reply(other_name, q));
  auto r = reply_to(q, 0);
  EXPECT_FALSE(match_dns_reply(std::span<const uint8_t>(r.data(), 11), q));  // short header
  EXPECT_FALSE(match_dns_reply(std::span<const uint8_t>(r.data(), 14), q));  // cut question
}

TEST(Dns, AcceptsReplyWithoutQuestionAndCaseChanges) {
  auto q = *encode_dns_query(0x1234, "example", 1);
  std::vector<uint8_t> bare(q.begin(), q.begin() + 12);
  bare[2] |= 0x80;
  bare[3] = 1;
  bare[5] = 0;  // QDCOUNT 0, as some servers send with FORMERR
  ASSERT_TRUE(match_dns_reply(bare, q));
  EXPECT_EQ(match_dns_reply(bare, q)->rcode, 1);
  auto upper = reply_to(*encode_dns_query(0x1234, "EXAMPLE", 1), 0);
  EXPECT_TRUE(match_dns_reply(upper, q));
}

}  // namespace
}  // namespace vane::health
