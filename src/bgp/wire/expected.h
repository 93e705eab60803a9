#pragma once
// A minimal stand-in for std::expected. The fuzz build uses clang 14, which cannot compile
// libstdc++ 12's <expected> (it requires C++20 concepts at a level clang 14 does not report), and
// the codec must build with both compilers. Member names follow std::expected so that moving to
// it later is a rename.
#include <cstdlib>
#include <type_traits>
#include <utility>
#include <variant>

namespace vane::bgp::wire {

template <class E>
class Unexpected {
 public:
  explicit Unexpected(E e) : error_(std::move(e)) {}
  const E& error() const& { return error_; }
  E&& error() && { return std::move(error_); }

 private:
  E error_;
};
template <class E>
Unexpected(E) -> Unexpected<E>;

template <class T, class E>
class Expected {
 public:
  Expected() requires std::is_default_constructible_v<T> : v_(std::in_place_index<0>) {}
  template <class U = T>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::remove_cvref_t<U>, Expected> &&
           !std::is_same_v<std::remove_cvref_t<U>, Unexpected<E>>) Expected(U&& v)
      : v_(std::in_place_index<0>, std::forward<U>(v)) {}
  template <class G>
  Expected(const Unexpected<G>& u) : v_(std::in_place_index<1>, u.error()) {}
  template <class G>
  Expected(Unexpected<G>&& u) : v_(std::in_place_index<1>, std::move(u).error()) {}

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  // Reading the wrong alternative is a programming error, never an input error: abort loudly.
  T& value() & { return *std::get_if<0>(&checked(0)); }
  const T& value() const& { return *std::get_if<0>(&checked(0)); }
  T&& value() && { return std::move(*std::get_if<0>(&checked(0))); }
  const E& error() const& { return *std::get_if<1>(&checked(1)); }
  E&& error() && { return std::move(*std::get_if<1>(&checked(1))); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, E>& checked(size_t want) {
    if (v_.index() != want) std::abort();
    return v_;
  }
  const std::variant<T, E>& checked(size_t want) const {
    if (v_.index() != want) std::abort();
    return v_;
  }

  std::variant<T, E> v_;
};

}  // namespace vane::bgp::wire
