// filter/stages/decode/content.cpp — see content.hpp.
#include "filter/stages/decode/content.hpp"

#include <string_view>
#include <utility>

#include <magic.h>

#include "filter/stages/decode/archives.hpp"

namespace sigil::filter::decode {

namespace {

constexpr std::size_t kMagicBytes = 64 * 1024;

// One libmagic handle per thread, loaded once (magic_t is not thread safe).
struct Magic {
  magic_t m = nullptr;
  bool ok = false;
  Magic() {
    m = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
    if (m && magic_load(m, nullptr) == 0) ok = true;
  }
  ~Magic() {
    if (m) magic_close(m);
  }
  Magic(const Magic&) = delete;
  Magic& operator=(const Magic&) = delete;
};

std::string detect(std::string_view bytes) {
  thread_local Magic magic;
  if (!magic.ok) return "";
  const char* r = magic_buffer(magic.m, bytes.data(), bytes.size());
  return r ? std::string(r) : std::string();
}

}  // namespace

const std::string& Sink::type() {
  if (!typed) {
    detected = detect(std::string_view(head).substr(0, kMagicBytes));
    typed = true;
  }
  return detected;
}

bool Sink::feed(const char* p, std::size_t n) {
  if (!w.count(n)) return false;
  switch (state) {
    case State::Unknown:
      head.append(p, n);
      if (head.size() >= kMagicBytes) decide(false);
      return !w.stop;
    case State::Plain: return true;
    case State::Archive:
      if (write_all(src.file.fd, p, n)) return true;
      w.unchecked("decode: cannot write a temporary file for " + w.quota_where);
      return false;
  }
  return true;
}

void Sink::finish() {
  if (state == State::Unknown) decide(true);
}

void Sink::decide(bool complete) {
  type();
  if (!is_archive(head)) {
    state = State::Plain;
    head.clear();
    head.shrink_to_fit();
    return;
  }
  state = State::Archive;
  if (complete) {
    src.mem = std::move(head);
    head.clear();
    return;
  }
  std::string why;
  src.file = w.tmp.file(why);
  if (src.file.fd < 0 || !write_all(src.file.fd, head.data(), head.size())) {
    w.unchecked("decode: " + (why.empty() ? "cannot write a temporary file" : why) + " for " +
                w.quota_where);
    return;
  }
  head.clear();
  head.shrink_to_fit();
}

}  // namespace sigil::filter::decode
