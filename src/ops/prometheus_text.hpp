#pragma once
// The Prometheus text exposition format (version 0.0.4), written by hand: Debian 12 packages
// no Prometheus client library for C++. One family is its `# HELP` and `# TYPE` lines and then
// its samples; counters are named `..._total`, histograms write cumulative `_bucket{le=...}`
// samples up to `+Inf`, then `_sum` and `_count`.
//
// Names are ours and checked (a bad one is a programming error: std::invalid_argument); label
// values may come from anywhere and are escaped (`\\`, `\"`, `\n`).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hostsweep::ops {

using Labels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { counter, gauge, histogram };
const char* to_string(MetricType type) noexcept;

// `a\b"c<newline>` -> `a\\b\"c\n`, as a label value inside double quotes.
std::string escape_label_value(std::string_view value);

// A sample's value: shortest round-trip decimal, `+Inf`, `-Inf` or `NaN`.
std::string format_value(double value);

// Observations counted into fixed buckets (upper bounds, strictly increasing; `+Inf` is implied).
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);

  void observe(double value);

  const std::vector<double>& upper_bounds() const noexcept { return bounds_; }
  // Per bucket, not cumulative; one more than upper_bounds(): the last is above every bound.
  const std::vector<std::uint64_t>& bucket_counts() const noexcept { return counts_; }
  double sum() const noexcept { return sum_; }
  std::uint64_t count() const noexcept { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

class ExpositionWriter {
 public:
  // Starts a family: its `# HELP` and `# TYPE` lines. A counter's name must end in `_total`.
  ExpositionWriter& family(std::string_view name, MetricType type, std::string_view help);

  // One sample of the current family (a counter or a gauge): `name{labels} value`.
  ExpositionWriter& sample(const Labels& labels, double value);
  ExpositionWriter& sample(double value) { return sample({}, value); }

  // One histogram of the current family (a histogram), under `labels` (which must not use `le`).
  ExpositionWriter& histogram(const Labels& labels, const Histogram& h);

  const std::string& str() const noexcept { return out_; }

 private:
  void line(std::string_view name, const Labels& labels, const std::pair<std::string, std::string>* extra,
            double value);

  std::string out_;
  std::string family_;
  MetricType type_ = MetricType::gauge;
  std::vector<std::string> seen_;  // family names written, each once
};

}  // namespace hostsweep::ops
