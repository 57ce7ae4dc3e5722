// filter/smtp/data_reader.hpp — the DATA phase byte stream (RFC 5321 §4.1.1.4, §4.5.2).
//
// Smuggling policy (documented in docs/operations.md "Protecting the input"):
//  * Only <CRLF>.<CRLF> ends the data.  <LF>.<LF>, <CR>.<CR>, <LF>.<CRLF>,
//    <CRLF>.<LF> and every other variant are message content, never an end.
//    A "line start" exists only after a CRLF (or at the very beginning).
//  * A bare LF or bare CR anywhere in the data marks the message; the session
//    reads on to the real end and then refuses the message with
//    554 5.6.0, so nothing smuggled inside it is ever executed or delivered.
//  * Dot-unstuffing (§4.5.2) removes the leading dot of a line.
//  * Bytes beyond max_message_size are counted but not stored; the session
//    answers 552 5.3.4 at the end.
// The reader emits the message in canonical form: CRLF line ends, unstuffed.
// Does not: interpret headers (MessageStore does) or enforce time limits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sigil::filter {

class DataReader {
 public:
  explicit DataReader(std::uint64_t max_size) : max_size_(max_size) {}

  struct Step {
    std::size_t consumed = 0;  // bytes of input used
    bool done = false;         // the end marker was consumed
  };

  // Processes input; appends message bytes to `out` (when not over the limit).
  Step feed(const char* data, std::size_t n, std::string& out);

  std::uint64_t size() const { return size_; }  // message bytes, even past the limit
  bool too_big() const { return size_ > max_size_; }
  bool bare_newline() const { return bare_; }

 private:
  enum class State { LineStart, Dot, DotCR, Text, CR };
  void emit(std::string& out, const char* p, std::size_t n);
  State st_ = State::LineStart;
  std::uint64_t max_size_;
  std::uint64_t size_ = 0;
  bool bare_ = false;
};

}  // namespace sigil::filter
