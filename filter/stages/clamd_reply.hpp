// filter/stages/clamd_reply.hpp — the reading of clamd's one-line answer to
// an INSTREAM scan ("stream: OK", "stream: <Name> FOUND", "<why> ERROR"; see
// av_stage.hpp for the protocol).  Pure: no I/O.
// Does not: talk to clamd or decide what a reply means for the message
// (av_stage.cpp does both).
#pragma once

#include <string>
#include <string_view>

namespace sigil::filter {

// clamd's answer to one INSTREAM scan.
struct ClamdReply {
  enum class Kind { Clean, Infected, Error, Garbage };
  Kind kind = Kind::Garbage;
  // Infected: the signature name.  Error/Garbage: the reply, control bytes
  // replaced by '?' and cut to 200 bytes, for logs.
  std::string text;
};

// Parses a reply without its terminating NUL (a trailing newline is
// ignored).  Garbage: anything else, such as an empty reply, a reply for
// another stream, a FOUND without a name, or a name with control bytes.
ClamdReply parse_clamd_reply(std::string_view reply);

}  // namespace sigil::filter
