// core/result: a small std::expected stand-in (g++ 12 lacks <expected>).
//
// Peer faults and bad input are values, never exceptions across a layer: parsers return
// expected<T, E>. Calling value() on an error, or error() on a value, is a broken invariant and
// aborts (no exception is thrown from here).
//
// SECURITY: none of its own; it exists so that untrusted input cannot unwind through a layer.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <utility>
#include <variant>

namespace mx {

template <class E>
struct unexpected {
  // A constructor, not an aggregate: clang 14 has no parenthesized aggregate initialization.
  explicit unexpected(E e) : error(std::move(e)) {}
  E error;
};
template <class E>
unexpected(E) -> unexpected<E>;

[[noreturn]] inline void invariant_failed(const char* what) {
  (void)std::fprintf(stderr, "mxguard: broken invariant: %s\n", what);
  std::abort();
}

template <class T, class E>
class expected {
 public:
  expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  template <class G>
  expected(unexpected<G> e) : v_(std::in_place_index<1>, std::move(e.error)) {}  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    if (!has_value()) invariant_failed("expected::value() on an error");
    return std::get<0>(v_);
  }
  const T& value() const& {
    if (!has_value()) invariant_failed("expected::value() on an error");
    return std::get<0>(v_);
  }
  T&& value() && {
    if (!has_value()) invariant_failed("expected::value() on an error");
    return std::get<0>(std::move(v_));
  }
  const E& error() const {
    if (has_value()) invariant_failed("expected::error() on a value");
    return std::get<1>(v_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, E> v_;
};

}  // namespace mx
