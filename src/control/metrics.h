#pragma once
// A small Prometheus registry rendered in the text exposition format 0.0.4. The daemon fills a
// fresh Registry on every scrape (collect-on-scrape), so series of removed neighbours or services
// disappear by themselves and no state is shared with the io_context's protocol code.
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vane::metrics {

enum class Type { counter, gauge };

// Label name -> value. The order given does not matter: a series is identified, and rendered,
// with its labels sorted by name.
using Labels = std::vector<std::pair<std::string, std::string>>;

class Registry;

// All series of one metric name, sharing HELP and TYPE.
class Family {
 public:
  // Sets the series with these labels, creating it if needed.
  Family& set(const Labels& labels, double value);
  Family& set(double value) { return set({}, value); }
  // Adds to the series (starting from 0). Counters only go up: a negative delta is an error.
  Family& add(const Labels& labels, double delta);
  Family& add(double delta) { return add({}, delta); }

  const std::string& name() const { return name_; }
  Type type() const { return type_; }
  std::size_t size() const { return samples_.size(); }

 private:
  friend class Registry;
  struct Sample {
    std::string labels;  // rendered: {a="x",b="y"} or empty
    double value = 0;
  };
  Family(Registry* reg, std::string name, std::string help, Type type, bool valid)
      : reg_(reg), name_(std::move(name)), help_(std::move(help)), type_(type), valid_(valid) {}
  Sample* find_or_add(const Labels& labels);

  Registry* reg_;
  std::string name_;
  std::string help_;
  Type type_;
  bool valid_;  // false: a misdeclared family that absorbs updates and renders nothing
  std::vector<Sample> samples_;
  std::map<std::string, std::size_t, std::less<>> index_;
};

// Misuse (invalid names, a name declared twice with different types, a counter not ending in
// _total, negative counter increments) never throws: the offending family or sample is left out of
// the output and the reason kept in errors(), since a scrape must not take the daemon down.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Declares (or returns the already declared) family. Names follow Prometheus conventions:
  // counters end in _total, units are base units (_seconds, _bytes).
  Family& counter(std::string_view name, std::string_view help);
  Family& gauge(std::string_view name, std::string_view help);

  // Text exposition format 0.0.4: families in declaration order, series in insertion order;
  // families without series are omitted.
  std::string render() const;

  const std::vector<std::string>& errors() const { return errors_; }

 private:
  friend class Family;
  Family& declare(std::string_view name, std::string_view help, Type type);
  void error(std::string msg) { errors_.push_back(std::move(msg)); }

  std::vector<std::unique_ptr<Family>> families_;
  std::map<std::string, Family*, std::less<>> by_name_;
  std::vector<std::string> errors_;
};

bool valid_metric_name(std::string_view name);
// Also refuses the "__" prefix Prometheus reserves for itself.
bool valid_label_name(std::string_view name);
std::string escape_label_value(std::string_view v);
std::string escape_help(std::string_view v);
// Shortest exact form; NaN, +Inf and -Inf as Prometheus spells them.
std::string format_value(double v);

inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace vane::metrics
