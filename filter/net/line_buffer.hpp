// filter/net/line_buffer.hpp — buffered line input for line-oriented
// protocols (SMTP commands and replies, both sides).
//
// Lines end in LF; a CR before it is removed and a bare LF is reported, so
// the caller decides what RFC 5321 §2.3.8 makes of it.
// Does not: read from a socket (the caller fills it), or limit line length
// (the caller checks data().size()).
#pragma once

#include <cstddef>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

namespace sigil::filter {

// A growable byte buffer with a read cursor, for line-oriented protocols.
class LineBuffer {
 public:
  explicit LineBuffer(std::size_t initial = 16 * 1024) : buf_(initial) {}

  std::string_view data() const { return {buf_.data() + begin_, end_ - begin_}; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  // Space to read into (at least min_free bytes).
  char* prepare(std::size_t min_free, std::size_t& avail) {
    if (buf_.size() - end_ < min_free) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
      if (buf_.size() - end_ < min_free) buf_.resize(end_ + min_free);
    }
    avail = buf_.size() - end_;
    return buf_.data() + end_;
  }
  void commit(std::size_t n) { end_ += n; }

  // A complete line (through LF) at the front, or nullopt.  `line` excludes
  // the line end; bare_lf is set when the LF was not preceded by CR.
  struct Line {
    std::string_view text;
    std::size_t total;  // bytes to consume
    bool bare_lf;
  };
  std::optional<Line> peek_line() const {
    auto d = data();
    const void* nl = std::memchr(d.data(), '\n', d.size());
    if (!nl) return std::nullopt;
    std::size_t pos = static_cast<const char*>(nl) - d.data();
    bool cr = pos > 0 && d[pos - 1] == '\r';
    return Line{d.substr(0, cr ? pos - 1 : pos), pos + 1, !cr};
  }

 private:
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;
};

}  // namespace sigil::filter
