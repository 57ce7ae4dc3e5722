// filter/stages/clamd_reply.cpp — see clamd_reply.hpp.
#include "filter/stages/clamd_reply.hpp"

#include <cstddef>

namespace sigil::filter {

namespace {

constexpr std::size_t kShown = 200;

// For logs and notes: no control bytes, bounded length.
std::string shown(std::string_view s) {
  std::string o(s.substr(0, kShown));
  for (auto& c : o)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  if (s.size() > kShown) o += "...";
  return o;
}

}  // namespace

ClamdReply parse_clamd_reply(std::string_view r) {
  while (!r.empty() && (r.back() == '\n' || r.back() == '\r')) r.remove_suffix(1);
  ClamdReply out;
  // "stream: ..." for INSTREAM; with IDSESSION it would be "<id>: stream: ...",
  // which we never ask for, so that is garbage too.
  constexpr std::string_view kPrefix = "stream: ";
  if (r.ends_with(" ERROR") || r == "ERROR") {
    out.kind = ClamdReply::Kind::Error;
    out.text = shown(r);
    return out;
  }
  if (r.starts_with(kPrefix)) {
    auto rest = r.substr(kPrefix.size());
    if (rest == "OK") {
      out.kind = ClamdReply::Kind::Clean;
      return out;
    }
    constexpr std::string_view kFound = " FOUND";
    if (rest.ends_with(kFound)) {
      auto name = rest.substr(0, rest.size() - kFound.size());
      // The name goes into a header field and the log: printable ASCII only,
      // no leading/trailing space, bounded.
      bool ok = !name.empty() && name.size() <= kShown && name.front() != ' ' &&
                name.back() != ' ';
      for (char c : name)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e)
          ok = false;
      if (ok) {
        out.kind = ClamdReply::Kind::Infected;
        out.text = std::string(name);
        return out;
      }
    }
  }
  out.kind = ClamdReply::Kind::Garbage;
  out.text = shown(r);
  return out;
}

}  // namespace sigil::filter
