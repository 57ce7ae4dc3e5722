// dkim/key_record.hpp — which of a key name's TXT records a DKIM verifier
// uses, and in what form libopendkim is given it.
//
// RFC 6376 §6.1.2 lets the verifier choose among several TXT records: the
// first that parses as a tag list (§3.2) and starts with v=DKIM1 or has p=
// is taken.  The record handed to libopendkim is rebuilt from the tags it
// uses (v, k, h, s, t, p; FWS removed; unknown tags dropped, §3.6.1 says
// verifiers ignore them) so more keys fit the library's 1 KiB buffer, and an
// RSA p= published as PKCS#1 RSAPublicKey (RFC 6376's wording; RFC 8017
// §A.1.1) is converted to the SubjectPublicKeyInfo libopendkim reads.
// Does not: look anything up (the caller's KeyAnswer), or check the key
// against a signature (libopendkim, through verifier.cpp).
#pragma once

#include <cstddef>
#include <string>

#include "dkim/verifier.hpp"

namespace sigil::dkim::detail {

// What the key-lookup callback made of the answer for one name.
struct KeyUse {
  enum class Kind { NotProvided, Ok, NotFound, TempFail, PermFail, NoRecord, TooLong };
  Kind kind = Kind::NotProvided;
  std::string reason;  // not Ok: the A-R reason
  std::string record;  // Ok: what the library was given
  std::string note;
};

// The record to give libopendkim (at most `buflen` - 1 bytes) for answer `a`.
KeyUse use_key_answer(const KeyAnswer& a, std::size_t buflen);

}  // namespace sigil::dkim::detail
