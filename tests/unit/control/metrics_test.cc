#include "control/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace vane::metrics {
namespace {

TEST(Metrics, GoldenOutput) {
  Registry reg;
  auto& up = reg.gauge("vane_bgp_session_up", "1 while the BGP session is Established.");
  up.set({{"neighbor", "tor1"}}, 1);
  up.set({{"neighbor", "tor2"}}, 0);
  auto& msgs = reg.counter("vane_bgp_messages_received_total", "BGP messages received,\nby type.");
  // Label order given does not matter: series are keyed and printed sorted by label name.
  msgs.set({{"type", "update"}, {"neighbor", "tor1"}}, 42);
  msgs.add({{"neighbor", "tor1"}, {"type", "update"}}, 1);
  msgs.add({{"neighbor", "tor1"}, {"type", "keepalive"}}, 3);
  reg.gauge("vane_check_latency_seconds", "Latency of the last probe (C:\\probe).")
      .set({{"service", "web"}, {"check", "say \"hi\"\nback\\slash"}}, 0.0125);
  reg.gauge("vane_table_generation", "Forwarding table generation.").set(7);

  EXPECT_EQ(reg.render(),
            "# HELP vane_bgp_session_up 1 while the BGP session is Established.\n"
            "# TYPE vane_bgp_session_up gauge\n"
            "vane_bgp_session_up{neighbor=\"tor1\"} 1\n"
            "vane_bgp_session_up{neighbor=\"tor2\"} 0\n"
            "# HELP vane_bgp_messages_received_total BGP messages received,\\nby type.\n"
            "# TYPE vane_bgp_messages_received_total counter\n"
            "vane_bgp_messages_received_total{neighbor=\"tor1\",type=\"update\"} 43\n"
            "vane_bgp_messages_received_total{neighbor=\"tor1\",type=\"keepalive\"} 3\n"
            "# HELP vane_check_latency_seconds Latency of the last probe (C:\\\\probe).\n"
            "# TYPE vane_check_latency_seconds gauge\n"
            "vane_check_latency_seconds{check=\"say \\\"hi\\\"\\nback\\\\slash\",service=\"web\"} 0.0125\n"
            "# HELP vane_table_generation Forwarding table generation.\n"
            "# TYPE vane_table_generation gauge\n"
            "vane_table_generation 7\n");
  EXPECT_TRUE(reg.errors().empty());
}

TEST(Metrics, EmptyFamiliesAreOmitted) {
  Registry reg;
  reg.counter("vane_bgp_notifications_total", "NOTIFICATIONs.");
  EXPECT_EQ(reg.render(), "");
}

TEST(Metrics, RedeclaringReturnsTheSameFamily) {
  Registry reg;
  auto& a = reg.gauge("vane_x", "x");
  auto& b = reg.gauge("vane_x", "x again");
  EXPECT_EQ(&a, &b);
  b.set(1);
  EXPECT_EQ(a.size(), 1u);
}

TEST(Metrics, Values) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(-3), "-3");
  EXPECT_EQ(format_value(1e20), "1e+20");
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(9007199254740992.0), "9007199254740992");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
}

TEST(Metrics, Names) {
  EXPECT_TRUE(valid_metric_name("vane_bgp_up"));
  EXPECT_TRUE(valid_metric_name("job:rate5m"));
  EXPECT_TRUE(valid_metric_name("_x"));
  EXPECT_FALSE(valid_metric_name(""));
  EXPECT_FALSE(valid_metric_name("1x"));
  EXPECT_FALSE(valid_metric_name("vane-up"));
  EXPECT_FALSE(valid_metric_name("vane up"));
  EXPECT_TRUE(valid_label_name("neighbor"));
  EXPECT_TRUE(valid_label_name("_n1"));
  EXPECT_FALSE(valid_label_name("__name__"));
  EXPECT_FALSE(valid_label_name("a:b"));
  EXPECT_FALSE(valid_label_name("9a"));
  EXPECT_FALSE(valid_label_name(""));
}

TEST(Metrics, Escaping) {
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(escape_help("a\"b\\c\nd"), "a\"b\\\\c\\nd");
  EXPECT_EQ(escape_label_value("ünïcode"), "ünïcode");
}

TEST(Metrics, MisuseIsRecordedAndLeftOut) {
  Registry reg;
  reg.gauge("vane bad", "bad name").set(1);
  reg.counter("vane_prefixes", "counter without _total").set(1);
  reg.gauge("vane_ok", "fine").set(1);
  reg.counter("vane_ok", "now a counter").set(2);
  reg.gauge("vane_labels", "labels").set({{"__reserved", "x"}}, 1);
  reg.gauge("vane_labels", "labels").set({{"a", "x"}, {"a", "y"}}, 1);
  reg.gauge("vane_labels", "labels").set({{"a", "x"}}, 5);
  reg.counter("vane_down_total", "counters only go up").set(-1);
  reg.counter("vane_down_total", "counters only go up").add({{"n", "1"}}, -1);
  reg.counter("vane_down_total", "counters only go up").add({{"n", "1"}}, 2);
  EXPECT_EQ(reg.render(),
            "# HELP vane_ok fine\n"
            "# TYPE vane_ok gauge\n"
            "vane_ok 1\n"
            "# HELP vane_labels labels\n"
            "# TYPE vane_labels gauge\n"
            "vane_labels{a=\"x\"} 5\n"
            "# HELP vane_down_total counters only go up\n"
            "# TYPE vane_down_total counter\n"
            "vane_down_total{n=\"1\"} 2\n");
  EXPECT_EQ(reg.errors().size(), 7u);
  for (const auto& e : reg.errors()) EXPECT_FALSE(e.empty());
}

}  // namespace
}  // namespace vane::metrics
