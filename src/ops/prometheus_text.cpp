#include "ops/prometheus_text.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace hostsweep::ops {
namespace {

bool name_char(char c, bool first, bool colon) {
  bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
  return alpha || (!first && c >= '0' && c <= '9');
}

void check_name(std::string_view name, bool metric) {
  bool ok = !name.empty();
  for (std::size_t i = 0; ok && i < name.size(); ++i) ok = name_char(name[i], i == 0, metric);
  if (!ok) throw std::invalid_argument(fmt::format("\"{}\" is not a valid {} name", name, metric ? "metric" : "label"));
}

// HELP text escapes only the backslash and the newline.
std::string escape_help(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

const char* to_string(MetricType type) noexcept {
  switch (type) {
    case MetricType::counter: return "counter";
    case MetricType::gauge: return "gauge";
    case MetricType::histogram: return "histogram";
  }
  return "untyped";
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1])) {
      throw std::invalid_argument("histogram bounds must be finite and strictly increasing");
    }
  }
}

void Histogram::observe(double value) {
  // The first bucket whose upper bound is >= value (Prometheus buckets are `le`).
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  ++counts_[static_cast<std::size_t>(it - bounds_.begin())];
  sum_ += value;
  ++count_;
}

ExpositionWriter& ExpositionWriter::family(std::string_view name, MetricType type, std::string_view help) {
  check_name(name, true);
  if (type == MetricType::counter && !name.ends_with("_total")) {
    throw std::invalid_argument(fmt::format("counter \"{}\" must end in _total", name));
  }
  if (std::find(seen_.begin(), seen_.end(), name) != seen_.end()) {
    throw std::invalid_argument(fmt::format("metric family \"{}\" written twice", name));
  }
  seen_.emplace_back(name);
  family_ = name;
  type_ = type;
  out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(help), name, to_string(type));
  return *this;
}

void ExpositionWriter::line(std::string_view name, const Labels& labels,
                            const std::pair<std::string, std::string>* extra, double value) {
  out_ += name;
  if (!labels.empty() || extra) {
    out_ += '{';
    bool first = true;
    auto put = [&](const std::string& key, const std::string& v) {
      check_name(key, false);
      if (!first) out_ += ',';
      first = false;
      out_ += key;
      out_ += "=\"";
      out_ += escape_label_value(v);
      out_ += '"';
    };
    for (const auto& [key, v] : labels) put(key, v);
    if (extra) put(extra->first, extra->second);
    out_ += '}';
  }
  out_ += ' ';
  out_ += format_value(value);
  out_ += '\n';
}

ExpositionWriter& ExpositionWriter::sample(const Labels& labels, double value) {
  if (family_.empty()) throw std::invalid_argument("a sample before its family");
  if (type_ == MetricType::histogram) throw std::invalid_argument("a histogram's samples are written by histogram()");
  line(family_, labels, nullptr, value);
  return *this;
}

ExpositionWriter& ExpositionWriter::histogram(const Labels& labels, const Histogram& h) {
  if (type_ != MetricType::histogram) throw std::invalid_argument(fmt::format("\"{}\" is not a histogram", family_));
  for (const auto& label : labels) {
    if (label.first == "le") throw std::invalid_argument("a histogram's own label is le");
  }
  std::uint64_t cumulative = 0;
  std::string bucket = family_ + "_bucket";
  for (std::size_t i = 0; i <= h.upper_bounds().size(); ++i) {
    cumulative += h.bucket_counts()[i];
    std::pair<std::string, std::string> le{
        "le", i < h.upper_bounds().size() ? format_value(h.upper_bounds()[i]) : std::string("+Inf")};
    line(bucket, labels, &le, static_cast<double>(cumulative));
  }
  line(family_ + "_sum", labels, nullptr, h.sum());
  line(family_ + "_count", labels, nullptr, static_cast<double>(h.count()));
  return *this;
}

}  // namespace hostsweep::ops
