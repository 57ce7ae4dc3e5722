// conf/result.hpp — Sigil's shared vocabulary for expected failures.
//
// GCC 12 ships no std::expected, so Result<T> is a small stand-in: either a
// value or an Error (kind + human message).  Exceptions are reserved for
// startup and programmer errors (DESIGN.md §4); anything that can go wrong
// because of input, a peer or the network is returned as a Result.
// Does not: monadic chaining or error stacks (deliberately minimal), or
// carry an SMTP reply (core/outcome.hpp decides those).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace sigil {

enum class ErrorKind {
  Config,     // bad configuration value or file
  Io,         // local I/O (spool, maildir, sockets)
  Protocol,   // peer violated the protocol
  Timeout,    // a deadline passed
  Temporary,  // peer reported a temporary failure / unreachable
  Permanent,  // peer reported a permanent failure
  Internal,   // a bug: logged, turned into 451 at the session boundary
};

const char* to_string(ErrorKind k) noexcept;

struct Error {
  ErrorKind kind = ErrorKind::Internal;
  std::string message;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error e) : v_(std::move(e)) {}      // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }

  const Error& error() const& { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void> equivalent.
struct Ok {};
using Status = Result<Ok>;

inline Error make_error(ErrorKind k, std::string msg) { return Error{k, std::move(msg)}; }

}  // namespace sigil
