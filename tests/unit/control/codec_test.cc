#include "control/codec.h"

#include <gtest/gtest.h>

#include <random>

namespace vane::control {
namespace {

Request show_neighbors() {
  Request r;
  r.set_version(kProtocolVersion);
  r.mutable_show_neighbors()->set_name("tor1");
  return r;
}

TEST(Codec, HeaderIsBigEndian) {
  char h[kHeaderSize];
  put_header(0x01020304, h);
  EXPECT_EQ(std::string(h, 4), std::string("\x01\x02\x03\x04", 4));
  EXPECT_EQ(get_header(h), 0x01020304u);
  put_header(0xffffffff, h);
  EXPECT_EQ(get_header(h), 0xffffffffu);
}

TEST(Codec, RequestFrameRoundTrip) {
  const Request req = show_neighbors();
  auto frame = encode_frame(req, kMaxRequestSize);
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->size(), kHeaderSize + req.ByteSizeLong());
  // Two frames back to back: the first is split off exactly.
  const std::string two = *frame + *frame;
  std::size_t consumed = 0;
  auto body = split_frame(two, kMaxRequestSize, &consumed);
  ASSERT_TRUE(body);
  EXPECT_EQ(consumed, frame->size());
  auto back = decode_request(*body);
  ASSERT_TRUE(back) << back.error().error();
  EXPECT_EQ(back->SerializeAsString(), req.SerializeAsString());
}

TEST(Codec, ResponseFrameRoundTripEveryPayload) {
  std::vector<Response> all(7);
  auto* n = all[0].mutable_neighbors()->add_neighbors();
  n->set_name("tor1");
  n->set_remote_asn(65001);
  n->mutable_last_notification()->set_code(6);
  auto* rt = all[1].mutable_routes()->add_routes();
  rt->set_prefix("192.0.2.0/24");
  rt->set_med(0);
  all[2].mutable_services()->add_services()->set_name("web");
  all[3].mutable_health()->add_checks()->set_verdict(VERDICT_DOWN);
  all[4].mutable_site()->set_table_generation(7);
  (*all[5].mutable_forwarding()->add_vips()->mutable_packets())["passed"] = 1ull << 40;
  all[6].mutable_action()->add_changes("neighbor tor2 added");
  for (auto& r : all) {
    r.set_version(kProtocolVersion);
    auto frame = encode_frame(r, kMaxResponseSize);
    ASSERT_TRUE(frame);
    auto body = split_frame(*frame, kMaxResponseSize);
    ASSERT_TRUE(body);
    auto back = decode_response(*body);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->payload_case(), r.payload_case());
    EXPECT_EQ(back->SerializeAsString(), r.SerializeAsString());
  }
  // Presence of an explicit zero MED survives the trip.
  auto back = decode_response(all[1].SerializeAsString());
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->routes().routes(0).has_med());
}

TEST(Codec, EncodeRefusesOversizedBody) {
  Response r;
  r.set_error(std::string(100, 'x'));
  auto frame = encode_frame(r, 50);
  ASSERT_FALSE(frame);
  EXPECT_EQ(frame.error(), Errc::too_large);
}

TEST(Codec, SplitFrameTruncatedAtEveryLength) {
  const std::string frame = *encode_frame(show_neighbors(), kMaxRequestSize);
  for (std::size_t n = 0; n < frame.size(); ++n) {
    auto body = split_frame(std::string_view(frame).substr(0, n), kMaxRequestSize);
    ASSERT_FALSE(body) << n;
    EXPECT_EQ(body.error(), Errc::truncated) << n;
  }
}

TEST(Codec, SplitFrameRejectsOversizedLengthBeforeTheBody) {
  char h[kHeaderSize];
  put_header(kMaxRequestSize + 1, h);
  auto body = split_frame(std::string_view(h, kHeaderSize), kMaxRequestSize);
  ASSERT_FALSE(body);
  EXPECT_EQ(body.error(), Errc::too_large);
  put_header(0xffffffff, h);
  EXPECT_EQ(split_frame(std::string_view(h, kHeaderSize), kMaxRequestSize).error(), Errc::too_large);
}

TEST(Codec, MalformedRequestIsBadRequest) {
  auto r = decode_request(std::string("\xff\xff\xff\xff\xff", 5));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ERROR_CODE_BAD_REQUEST);
  EXPECT_EQ(r.error().version(), kProtocolVersion);
  EXPECT_FALSE(r.error().error().empty());
  EXPECT_EQ(r.error().payload_case(), Response::PAYLOAD_NOT_SET);
}

TEST(Codec, TruncatedBodyIsBadRequest) {
  const std::string body = show_neighbors().SerializeAsString();
  // Cutting inside the nested message leaves a length that runs past the end.
  auto r = decode_request(std::string_view(body).substr(0, body.size() - 2));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ERROR_CODE_BAD_REQUEST);
}

TEST(Codec, OversizedBodyIsTooLarge) {
  auto r = decode_request(std::string(kMaxRequestSize + 1, '\0'));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ERROR_CODE_TOO_LARGE);
}

TEST(Codec, MissingVersionIsRefused) {
  Request req;
  req.mutable_reload();
  auto r = decode_request(req.SerializeAsString());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ERROR_CODE_UNSUPPORTED_VERSION);
  // The empty message (zero-length body) too.
  EXPECT_EQ(decode_request("").error().code(), ERROR_CODE_UNSUPPORTED_VERSION);
}

TEST(Codec, OtherMajorIsRefusedOtherMinorAccepted) {
  Request req = show_neighbors();
  req.set_version(((kProtocolMajor + 1) << 16) | kProtocolMinor);
  auto r = decode_request(req.SerializeAsString());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ERROR_CODE_UNSUPPORTED_VERSION);
  EXPECT_NE(r.error().error().find("2.0"), std::string::npos) << r.error().error();

  req.set_version((kProtocolMajor << 16) | (kProtocolMinor + 7));
  EXPECT_TRUE(decode_request(req.SerializeAsString()));
}

TEST(Codec, UnknownCommandIsRefused) {
  Request req;
  req.set_version(kProtocolVersion);
  // A newer client's command: field 99, an empty length-delimited message.
  std::string body = req.SerializeAsString() + std::string("\x9a\x06\x00", 3);
  auto r = decode_request(body);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ERROR_CODE_UNKNOWN_COMMAND);
  // No command at all.
  EXPECT_EQ(decode_request(req.SerializeAsString()).error().code(), ERROR_CODE_UNKNOWN_COMMAND);
}

TEST(Codec, NeighborActionIsChecked) {
  Request req;
  req.set_version(kProtocolVersion);
  auto* a = req.mutable_neighbor_action();
  a->set_action(NeighborAction::ACTION_SHUTDOWN);
  EXPECT_EQ(decode_request(req.SerializeAsString()).error().code(), ERROR_CODE_BAD_REQUEST);  // no name
  a->set_name("tor1");
  EXPECT_TRUE(decode_request(req.SerializeAsString()));
  a->set_action(NeighborAction::ACTION_UNSPECIFIED);
  EXPECT_EQ(decode_request(req.SerializeAsString()).error().code(), ERROR_CODE_BAD_REQUEST);
  a->set_action(static_cast<NeighborAction::Action>(42));
  EXPECT_EQ(decode_request(req.SerializeAsString()).error().code(), ERROR_CODE_BAD_REQUEST);
  a->set_action(NeighborAction::ACTION_RESET);
  a->set_message(std::string(256, 'm'));
  EXPECT_EQ(decode_request(req.SerializeAsString()).error().code(), ERROR_CODE_BAD_REQUEST);
  a->set_message(std::string(255, 'm'));
  EXPECT_TRUE(decode_request(req.SerializeAsString()));
}

TEST(Codec, RandomBytesNeverCrash) {
  std::mt19937 rng(42);
  const std::string valid = show_neighbors().SerializeAsString();
  for (int i = 0; i < 5000; ++i) {
    std::string body;
    if (i % 2 == 0) {
      body.resize(rng() % 64);
      for (auto& c : body) c = static_cast<char>(rng());
    } else {
      body = valid;
      body[rng() % body.size()] = static_cast<char>(rng());
    }
    auto r = decode_request(body);
    if (!r) {
      EXPECT_NE(r.error().code(), ERROR_CODE_UNSPECIFIED);
      EXPECT_FALSE(r.error().error().empty());
    }
    (void)split_frame(body, kMaxRequestSize);
  }
}

TEST(Codec, CommandNames) {
  EXPECT_EQ(command_name(show_neighbors()), "show_neighbors");
  Request r;
  EXPECT_EQ(command_name(r), "none");
  r.mutable_neighbor_action();
  EXPECT_EQ(command_name(r), "neighbor_action");
}

TEST(Codec, ErrorCodesHaveMessages) {
  std::error_code ec = Errc::too_large;
  EXPECT_EQ(ec.category().name(), std::string("vane.control"));
  EXPECT_EQ(ec.message(), "frame exceeds the size limit");
  EXPECT_FALSE(std::error_code(Errc::ok));
}

}  // namespace
}  // namespace vane::control
