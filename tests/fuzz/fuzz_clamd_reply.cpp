// tests/fuzz/fuzz_clamd_reply.cpp — clamd's INSTREAM reply
// (filter/stages/clamd_reply).
// Properties: a virus name is 1 to 200 printable ASCII bytes without space
// at either end; the text of an error or garbage reply has no control byte
// and is at most 203 bytes (200 and "..."); a clean reply has no text.
#include "filter/stages/clamd_reply.hpp"
#include "fuzz_check.hpp"

using sigil::filter::ClamdReply;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ClamdReply r = sigil::filter::parse_clamd_reply(sigil::fuzz::as_text(data, size));
  switch (r.kind) {
    case ClamdReply::Kind::Clean: FUZZ_CHECK(r.text.empty()); break;
    case ClamdReply::Kind::Infected:
      FUZZ_CHECK(!r.text.empty() && r.text.size() <= 200 && r.text.front() != ' ' &&
                 r.text.back() != ' ');
      for (unsigned char c : r.text) FUZZ_CHECK(c >= 0x20 && c <= 0x7e);
      break;
    case ClamdReply::Kind::Error:
    case ClamdReply::Kind::Garbage:
      FUZZ_CHECK(r.text.size() <= 203 && sigil::fuzz::printable(r.text));
      break;
  }
  return 0;
}
