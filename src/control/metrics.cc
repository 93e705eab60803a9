#include "control/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace vane::metrics {

namespace {

bool is_alpha_(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view type_name(Type t) {
  return t == Type::counter ? "counter" : "gauge";
}

}  // namespace

bool valid_metric_name(std::string_view name) {
  if (name.empty() || !(is_alpha_(name[0]) || name[0] == ':')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return is_alpha_(c) || is_digit(c) || c == ':'; });
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || !is_alpha_(name[0]) || name.starts_with("__")) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return is_alpha_(c) || is_digit(c); });
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

Family::Sample* Family::find_or_add(const Labels& labels) {
  if (!valid_) return nullptr;
  Labels sorted = labels;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string key;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const auto& [k, v] = sorted[i];
    if (!valid_label_name(k)) {
      reg_->error(name_ + ": invalid label name \"" + k + "\"");
      return nullptr;
    }
    if (i > 0 && sorted[i - 1].first == k) {
      reg_->error(name_ + ": label \"" + k + "\" given twice");
      return nullptr;
    }
    key += (i == 0 ? "{" : ",");
    key += k;
    key += "=\"";
    key += escape_label_value(v);
    key += '"';
  }
  if (!key.empty()) key += '}';
  if (auto it = index_.find(key); it != index_.end()) return &samples_[it->second];
  index_.emplace(key, samples_.size());
  samples_.push_back({std::move(key), 0});
  return &samples_.back();
}

Family& Family::set(const Labels& labels, double value) {
  if (type_ == Type::counter && valid_ && !(value >= 0)) {
    reg_->error(name_ + ": counter set to " + format_value(value));
    return *this;
  }
  if (Sample* s = find_or_add(labels)) s->value = value;
  return *this;
}

Family& Family::add(const Labels& labels, double delta) {
  if (type_ == Type::counter && valid_ && !(delta >= 0)) {
    reg_->error(name_ + ": counter decreased by " + format_value(-delta));
    return *this;
  }
  if (Sample* s = find_or_add(labels)) s->value += delta;
  return *this;
}

Family& Registry::counter(std::string_view name, std::string_view help) {
  return declare(name, help, Type::counter);
}
Family& Registry::gauge(std::string_view name, std::string_view help) {
  return declare(name, help, Type::gauge);
}

Family& Registry::declare(std::string_view name, std::string_view help, Type type) {
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    if (it->second->type_ == type) return *it->second;
    error(std::string(name) + ": declared as both counter and gauge");
    // The first declaration stays; the conflicting one gets a family that renders nothing.
    families_.push_back(std::unique_ptr<Family>(new Family(this, std::string(name), std::string(help), type, false)));
    return *families_.back();
  }
  bool valid = valid_metric_name(name);
  if (!valid) error(std::string(name) + ": invalid metric name");
  if (valid && type == Type::counter && !name.ends_with("_total")) {
    error(std::string(name) + ": counter names end in _total");
    valid = false;
  }
  families_.push_back(std::unique_ptr<Family>(new Family(this, std::string(name), std::string(help), type, valid)));
  Family* f = families_.back().get();
  if (valid) by_name_.emplace(std::string(name), f);
  return *f;
}

std::string Registry::render() const {
  std::string out;
  for (const auto& f : families_) {
    if (!f->valid_ || f->samples_.empty()) continue;
    out += "# HELP ";
    out += f->name_;
    out += ' ';
    out += escape_help(f->help_);
    out += "\n# TYPE ";
    out += f->name_;
    out += ' ';
    out += type_name(f->type_);
    out += '\n';
    for (const auto& s : f->samples_) {
      out += f->name_;
      out += s.labels;
      out += ' ';
      out += format_value(s.value);
      out += '\n';
    }
  }
  return out;
}

}  // namespace vane::metrics
