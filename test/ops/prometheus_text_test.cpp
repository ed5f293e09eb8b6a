// The Prometheus text exposition writer: its lines, its escaping, its histograms, and (when
// promtool is installed) that promtool accepts what it writes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ops/ops_support.hpp"
#include "ops/prometheus_text.hpp"

namespace hostsweep::ops {
namespace {

TEST(PrometheusText, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label_value("plain"), "plain");
  EXPECT_EQ(escape_label_value(R"(a\b"c)" "\n" "d"), R"(a\\b\"c\nd)");
  ExpositionWriter w;
  w.family("x_total", MetricType::counter, "with a \\ and a\nnewline").sample({{"why", "say \"hi\"\n}"}}, 1);
  EXPECT_EQ(w.str(),
            "# HELP x_total with a \\\\ and a\\nnewline\n"
            "# TYPE x_total counter\n"
            "x_total{why=\"say \\\"hi\\\"\\n}\"} 1\n");
}

TEST(PrometheusText, ValuesAreShortestDecimalsOrTheSpecialNames) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(42), "42");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  EXPECT_EQ(std::stod(format_value(18446744073709551615.0)), 18446744073709551615.0);
}

TEST(PrometheusText, FamiliesHaveHelpTypeAndSamples) {
  ExpositionWriter w;
  w.family("a_gauge", MetricType::gauge, "A gauge.").sample(3).family("b_total", MetricType::counter, "B.");
  w.sample({{"k", "v"}, {"l", "w"}}, 7);
  EXPECT_EQ(w.str(),
            "# HELP a_gauge A gauge.\n# TYPE a_gauge gauge\na_gauge 3\n"
            "# HELP b_total B.\n# TYPE b_total counter\nb_total{k=\"v\",l=\"w\"} 7\n");
}

TEST(PrometheusText, BadNamesAndMisuseAreRefused) {
  ExpositionWriter w;
  EXPECT_THROW(w.family("9lives", MetricType::gauge, ""), std::invalid_argument);
  EXPECT_THROW(w.family("has-dash", MetricType::gauge, ""), std::invalid_argument);
  EXPECT_THROW(w.family("requests", MetricType::counter, ""), std::invalid_argument) << "a counter ends in _total";
  EXPECT_THROW(w.sample(1), std::invalid_argument) << "a sample before any family";
  w.family("ok", MetricType::gauge, "");
  EXPECT_THROW(w.sample({{"bad label", "x"}}, 1), std::invalid_argument);
  EXPECT_THROW(w.family("ok", MetricType::gauge, ""), std::invalid_argument) << "a family twice";
  EXPECT_THROW(w.histogram({}, Histogram({1})), std::invalid_argument) << "ok is a gauge";
  EXPECT_THROW(Histogram({1, 1}), std::invalid_argument);
  EXPECT_THROW(Histogram({std::numeric_limits<double>::infinity()}), std::invalid_argument);
}

TEST(PrometheusText, HistogramBucketsAreCumulativeUpToInf) {
  Histogram h({0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 3.0, 100.0}) h.observe(v);
  ExpositionWriter w;
  w.family("lat_seconds", MetricType::histogram, "Latency.").histogram({{"path", "p"}}, h);
  EXPECT_EQ(w.str(),
            "# HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{path=\"p\",le=\"0.1\"} 2\n"  // 0.1 is `le` 0.1
            "lat_seconds_bucket{path=\"p\",le=\"1\"} 3\n"
            "lat_seconds_bucket{path=\"p\",le=\"10\"} 4\n"
            "lat_seconds_bucket{path=\"p\",le=\"+Inf\"} 5\n"
            "lat_seconds_sum{path=\"p\"} 103.65\n"
            "lat_seconds_count{path=\"p\"} 5\n");
  EXPECT_THROW(w.histogram({{"le", "x"}}, h), std::invalid_argument);
}

TEST(PrometheusText, PromtoolAcceptsTheOutput) {
  if (!testing::have_program("promtool")) GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  Histogram h({0.5, 1});
  h.observe(0.7);
  ExpositionWriter w;
  w.family("t_requests_total", MetricType::counter, "Requests \"quoted\".").sample({{"code", "200"}}, 3).sample({{"code", "a\"b\\c\nd"}}, 1);
  w.family("t_up", MetricType::gauge, "Up.").sample(1);
  w.family("t_latency_seconds", MetricType::histogram, "Latency.").histogram({}, h);
  testing::TempDir tmp;
  testing::write_file(tmp.path() / "m.txt", w.str());
  auto [status, out] = testing::shell("promtool check metrics < " + (tmp.path() / "m.txt").string());
  EXPECT_EQ(status, 0) << out << "\n" << w.str();

  // And it can fail: a counter without _total, written by hand, is reported.
  testing::write_file(tmp.path() / "bad.txt", "# HELP bad Bad.\n# TYPE bad counter\nbad 1\n");
  EXPECT_NE(testing::shell("promtool check metrics < " + (tmp.path() / "bad.txt").string()).first, 0);
}

}  // namespace
}  // namespace hostsweep::ops
