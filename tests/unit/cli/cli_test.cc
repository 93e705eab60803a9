#include "cli/cli.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/sample.h"
#include "control/server.h"
#include "control/test_support.h"

namespace vane::cli {
namespace {

using control::ClientError;
using control::Request;
using control::Response;

struct Outcome {
  int rc = -1;
  std::string out, err;
  std::optional<Request> sent;
  control::ClientOptions opts;
};

// Runs vanectl with a transport that records the request and answers with `answer`.
Outcome vanectl(std::vector<std::string> args, CallResult answer = Response{}) {
  Outcome o;
  args.insert(args.begin(), "vanectl");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  o.rc = run(static_cast<int>(argv.size()), argv.data(), out, err,
             [&](const control::ClientOptions& opts, const Request& req) {
               o.sent = req;
               o.opts = opts;
               return answer;
             });
  o.out = out.str();
  o.err = err.str();
  return o;
}

TEST(Vanectl, ReloadDryRunConfirm) {
  auto o = vanectl({"reload", "--dry-run"});
  ASSERT_TRUE(o.sent && o.sent->has_reload());
  EXPECT_TRUE(o.sent->reload().dry_run());
  EXPECT_TRUE(o.sent->reload().config_text().empty());

  const std::string file = ::testing::TempDir() + "/vanectl-dry-run.conf";
  { std::ofstream(file) << "node { name: \"s1\" }\n"; }
  o = vanectl({"reload", "--dry-run", file});
  ASSERT_TRUE(o.sent);
  EXPECT_EQ(o.sent->reload().config_text(), "node { name: \"s1\" }\n") << "vanectl reads the file, not vaned";
  EXPECT_EQ(o.sent->reload().config_path(), std::filesystem::absolute(file).string());
  EXPECT_EQ(vanectl({"reload", file}).rc, kExitUsage) << "a real reload reads vaned's own file";
  EXPECT_EQ(vanectl({"reload", "--dry-run", "/nonexistent/vaned.conf"}).rc, kExitUsage);

  o = vanectl({"reload", "--confirm-within", "30"});
  ASSERT_TRUE(o.sent);
  EXPECT_EQ(o.sent->reload().confirm_within_s(), 30u);
  EXPECT_FALSE(o.sent->reload().dry_run());
  EXPECT_TRUE(vanectl({"reload", "--confirm"}).sent->reload().confirm());
  EXPECT_EQ(vanectl({"reload", "--confirm", "--confirm-within", "5"}).rc, kExitUsage);
  EXPECT_EQ(vanectl({"reload", "--dry-run", "--confirm-within", "5"}).rc, kExitUsage);
  EXPECT_EQ(vanectl({"reload", "--confirm-within", "0"}).rc, kExitUsage);

  Response plan;
  auto* a = plan.mutable_action();
  a->set_message("dry run: nothing applied");
  a->mutable_plan()->set_dry_run(true);
  auto* n = a->mutable_plan()->add_neighbors();
  n->set_name("tor1");
  n->set_action("reset");
  n->set_reason("changed: hold_time_s");
  auto* s = a->mutable_plan()->add_services();
  s->set_service("web");
  s->set_table_size(1021);
  s->set_buckets_moved(510);
  auto* b = s->add_servers();
  b->set_server("s3");
  b->set_buckets_delta(-510);
  a->mutable_plan()->add_restart_required("control.socket");
  o = vanectl({"reload", "--dry-run"}, plan);
  EXPECT_EQ(o.out,
            "dry run: nothing applied\n"
            "sessions:\n  reset tor1 (changed: hold_time_s)\n"
            "tables:\n  web: 510 of 1021 buckets move\n    s3 -510\n"
            "need a restart:\n  control.socket\n");
  a->mutable_plan()->set_dry_run(false);
  a->set_message("configuration reloaded");
  EXPECT_EQ(vanectl({"reload"}, plan).out, "configuration reloaded\n") << "a real reload lists its changes only";
  o = vanectl({"-o", "json", "reload", "--dry-run"}, plan);
  EXPECT_NE(o.out.find("\"buckets_moved\":510"), std::string::npos) << o.out;
}

TEST(ExitCodes, Mapping) {
  EXPECT_EQ(exit_code(Response{}), kExitOk);
  Response bad;
  bad.set_error("no such neighbor");
  EXPECT_EQ(exit_code(bad), kExitDaemonError);
  EXPECT_EQ(exit_code(std::unexpected(ClientError{ClientError::Kind::unreachable, "gone"})), kExitUnreachable);
  EXPECT_EQ(exit_code(std::unexpected(ClientError{ClientError::Kind::protocol, "garbage"})), kExitDaemonError);
  EXPECT_EQ(kExitOk, 0);
  EXPECT_EQ(kExitDaemonError, 1);
  EXPECT_EQ(kExitUsage, 2);
  EXPECT_EQ(kExitUnreachable, 3);
}

TEST(Vanectl, ShowNeighborsTable) {
  auto o = vanectl({"show", "neighbors"}, sample::neighbors());
  EXPECT_EQ(o.rc, kExitOk);
  ASSERT_TRUE(o.sent);
  EXPECT_TRUE(o.sent->has_show_neighbors());
  EXPECT_EQ(o.sent->show_neighbors().name(), "");
  EXPECT_TRUE(o.out.starts_with("Name            Address             ASN  State"));
  EXPECT_EQ(o.err, "");
}

TEST(Vanectl, ShowOneNeighborInDetail) {
  auto o = vanectl({"show", "neighbors", "tor1"}, sample::neighbors());
  EXPECT_EQ(o.rc, kExitOk);
  EXPECT_EQ(o.sent->show_neighbors().name(), "tor1");
  EXPECT_TRUE(o.out.starts_with("Neighbor           tor1\n"));
}

TEST(Vanectl, EveryShowBuildsItsRequest) {
  EXPECT_TRUE(vanectl({"show", "routes"}).sent->has_show_routes());
  EXPECT_EQ(vanectl({"show", "routes", "192.0.2.0/24"}).sent->show_routes().prefix(), "192.0.2.0/24");
  EXPECT_TRUE(vanectl({"show", "services"}).sent->has_show_services());
  EXPECT_EQ(vanectl({"show", "health", "web"}).sent->show_health().service(), "web");
  EXPECT_TRUE(vanectl({"show", "site"}).sent->has_show_site());
  EXPECT_TRUE(vanectl({"show", "forwarding"}).sent->has_show_forwarding());
}

TEST(Vanectl, Actions) {
  auto o = vanectl({"drain"});
  ASSERT_TRUE(o.sent && o.sent->has_drain());
  EXPECT_EQ(o.sent->drain().service(), "");
  EXPECT_EQ(vanectl({"drain", "web"}).sent->drain().service(), "web");
  EXPECT_EQ(vanectl({"undrain", "web"}).sent->undrain().service(), "web");
  EXPECT_TRUE(vanectl({"undrain"}).sent->has_undrain());
  EXPECT_TRUE(vanectl({"reload"}).sent->has_reload());

  o = vanectl({"neighbor", "tor1", "shutdown", "--message", "maintenance till 14:00"});
  ASSERT_TRUE(o.sent && o.sent->has_neighbor_action());
  EXPECT_EQ(o.sent->neighbor_action().name(), "tor1");
  EXPECT_EQ(o.sent->neighbor_action().action(), control::NeighborAction::ACTION_SHUTDOWN);
  EXPECT_EQ(o.sent->neighbor_action().message(), "maintenance till 14:00");
  EXPECT_EQ(vanectl({"neighbor", "tor1", "enable"}).sent->neighbor_action().action(),
            control::NeighborAction::ACTION_ENABLE);
  EXPECT_EQ(vanectl({"neighbor", "tor1", "reset"}).sent->neighbor_action().action(),
            control::NeighborAction::ACTION_RESET);
}

TEST(Vanectl, ActionOutput) {
  Response r;
  r.mutable_action()->set_message("drained web");
  auto o = vanectl({"drain", "web"}, r);
  EXPECT_EQ(o.rc, kExitOk);
  EXPECT_EQ(o.out, "drained web\n");
}

TEST(Vanectl, UsageErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {},
           {"bogus"},
           {"show"},
           {"show", "bogus"},
           {"neighbor", "tor1"},
           {"neighbor", "tor1", "bounce"},
           {"neighbor", "tor1", "shutdown", "-m", std::string(256, 'x')},
           {"-o", "yaml", "show", "routes"},
           {"drain", "a", "b"},
           {"--timeout", "0", "reload"},
       }) {
    auto o = vanectl(args);
    EXPECT_EQ(o.rc, kExitUsage) << ::testing::PrintToString(args);
    EXPECT_FALSE(o.sent) << ::testing::PrintToString(args);
    EXPECT_FALSE(o.err.empty()) << ::testing::PrintToString(args);
  }
}

TEST(Vanectl, HelpAndVersionNeedNoDaemon) {
  auto o = vanectl({"--help"});
  EXPECT_EQ(o.rc, kExitOk);
  EXPECT_FALSE(o.sent);
  EXPECT_NE(o.out.find("neighbor"), std::string::npos);
  o = vanectl({"version"});
  EXPECT_EQ(o.rc, kExitOk);
  EXPECT_FALSE(o.sent);
  EXPECT_EQ(o.out, std::string("vanectl ") + VANE_VERSION + " (control protocol 1.0)\n");
}

TEST(Vanectl, DaemonErrorExitsOne) {
  Response r;
  r.set_error("no such neighbor: tor9");
  r.set_code(control::ERROR_CODE_NOT_FOUND);
  auto o = vanectl({"neighbor", "tor9", "reset"}, r);
  EXPECT_EQ(o.rc, kExitDaemonError);
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.err, "error: no such neighbor: tor9\n");
}

TEST(Vanectl, UnreachableExitsThree) {
  auto o = vanectl({"show", "site"}, std::unexpected(ClientError{ClientError::Kind::unreachable, "/x: refused"}));
  EXPECT_EQ(o.rc, kExitUnreachable);
  EXPECT_EQ(o.err, "vanectl: /x: refused\n");
  o = vanectl({"show", "site"}, std::unexpected(ClientError{ClientError::Kind::protocol, "/x: malformed response"}));
  EXPECT_EQ(o.rc, kExitDaemonError);
}

TEST(Vanectl, JsonOutputAnywhereOnTheLine) {
  auto a = vanectl({"-o", "json", "show", "site"}, sample::site());
  auto b = vanectl({"show", "site", "--output", "json"}, sample::site());
  EXPECT_EQ(a.rc, kExitOk);
  EXPECT_EQ(a.out, b.out);
  EXPECT_TRUE(a.out.starts_with("{\"version\":0,\"error\":\"\""));
  EXPECT_NE(a.out.find("\"is_self\":true"), std::string::npos);

  // Errors are JSON too (for scripts), with the exit code of an error.
  Response r;
  r.set_error("reload refused");
  r.set_code(control::ERROR_CODE_INVALID_CONFIG);
  auto e = vanectl({"-o", "json", "reload"}, r);
  EXPECT_EQ(e.rc, kExitDaemonError);
  EXPECT_NE(e.out.find("\"code\":\"ERROR_CODE_INVALID_CONFIG\""), std::string::npos);
}

TEST(Vanectl, SocketFromFlagEnvOrDefault) {
  ::unsetenv("VANE_SOCKET");
  EXPECT_EQ(vanectl({"reload"}).opts.socket_path, "/run/vane/vaned.sock");
  ::setenv("VANE_SOCKET", "/tmp/from-env.sock", 1);
  EXPECT_EQ(vanectl({"reload"}).opts.socket_path, "/tmp/from-env.sock");
  EXPECT_EQ(vanectl({"--socket", "/tmp/flag.sock", "reload"}).opts.socket_path, "/tmp/flag.sock");
  ::unsetenv("VANE_SOCKET");
  EXPECT_EQ(vanectl({"-t", "2.5", "reload"}).opts.timeout, std::chrono::milliseconds(2500));
}

// The whole path: vanectl's parser, the real client, the real server on a Unix socket.
TEST(Vanectl, AgainstARealServer) {
  vane::testing::TempDir dir;
  vane::testing::IoThread io;
  const auto path = dir.path() / "vaned.sock";
  auto server = std::make_unique<control::Server>(io.io, control::ServerOptions{.socket_path = path},
                                                  [](const Request& req, control::Server::Reply reply) {
                                                    if (req.has_show_services()) return reply(sample::services());
                                                    Response r;
                                                    r.set_error("not here");
                                                    r.set_code(control::ERROR_CODE_UNIMPLEMENTED);
                                                    reply(r);
                                                  });
  io.start();
  ASSERT_TRUE(io.run([&] { return server->start(); }));

  const std::string sock = path.string();
  std::vector<const char*> argv{"vanectl", "--socket", sock.c_str(), "show", "services"};
  std::ostringstream out, err;
  EXPECT_EQ(run(static_cast<int>(argv.size()), argv.data(), out, err), kExitOk);
  EXPECT_TRUE(out.str().starts_with("Name  Health  Drained  Checks")) << out.str() << err.str();

  argv = {"vanectl", "--socket", sock.c_str(), "reload"};
  std::ostringstream out2, err2;
  EXPECT_EQ(run(static_cast<int>(argv.size()), argv.data(), out2, err2), kExitDaemonError);
  EXPECT_EQ(err2.str(), "error: not here\n");

  io.run([&] {
    server.reset();
    return 0;
  });
  std::ostringstream out3, err3;
  argv = {"vanectl", "--socket", sock.c_str(), "show", "services"};
  EXPECT_EQ(run(static_cast<int>(argv.size()), argv.data(), out3, err3), kExitUnreachable);
  io.stop();
}

}  // namespace
}  // namespace vane::cli
