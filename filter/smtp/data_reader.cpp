// filter/smtp/data_reader.cpp — see data_reader.hpp.
#include "filter/smtp/data_reader.hpp"

#include <cstring>

namespace sigil::filter {

void DataReader::emit(std::string& out, const char* p, std::size_t n) {
  if (size_ + n <= max_size_) out.append(p, n);
  size_ += n;
}

DataReader::Step DataReader::feed(const char* data, std::size_t n, std::string& out) {
  const char* p = data;
  const char* end = data + n;
  while (p < end) {
    char c = *p;
    switch (st_) {
      case State::LineStart:
        if (c == '.') {
          st_ = State::Dot;
          ++p;
          continue;
        }
        st_ = State::Text;
        continue;  // handle c as text (CR, LF and ordinary bytes alike)
      case State::Dot:
        if (c == '\r') {
          st_ = State::DotCR;
          ++p;
          continue;
        }
        st_ = State::Text;  // the leading dot is dropped (unstuffing)
        continue;
      case State::DotCR:
        if (c == '\n') {
          ++p;
          st_ = State::LineStart;
          return {static_cast<std::size_t>(p - data), true};
        }
        // "." CR x: a bare CR on a dot line; the dot was stuffing.
        bare_ = true;
        emit(out, "\r", 1);
        st_ = State::Text;
        continue;
      case State::CR:
        if (c == '\n') {
          emit(out, "\r\n", 2);
          st_ = State::LineStart;
          ++p;
          continue;
        }
        bare_ = true;
        emit(out, "\r", 1);
        if (c == '\r') {
          ++p;  // stay in CR
          continue;
        }
        st_ = State::Text;
        continue;
      case State::Text: {
        // Fast path: a whole clean line "....\r\n" in the buffer.
        const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
        const char* stop = nl ? nl : end;
        const char* cr = static_cast<const char*>(std::memchr(p, '\r', stop - p));
        if (nl && cr == nl - 1) {
          emit(out, p, nl + 1 - p);
          p = nl + 1;
          st_ = State::LineStart;
          continue;
        }
        const char* first = cr ? cr : stop;  // first CR or LF (or end)
        if (first > p) {
          emit(out, p, first - p);
          p = first;
          continue;
        }
        if (p == end) break;
        if (*p == '\r') {
          st_ = State::CR;
          ++p;
        } else {  // bare LF: content, and never a line start
          bare_ = true;
          emit(out, "\n", 1);
          ++p;
        }
        continue;
      }
    }
  }
  return {n, false};
}

}  // namespace sigil::filter
