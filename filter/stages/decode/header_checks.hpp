// filter/stages/decode/header_checks.hpp — the decode stage's bad-header
// checks (Amavis's bad-header category).
//
// On the message's own header section (HeaderIndex): 8-bit bytes when the
// envelope did not declare SMTPUTF8 (RFC 6531, RFC 6532), a missing or
// duplicated From or Date, a duplicated Subject (RFC 5322 §3.6).  On any
// MIME entity's fields, for the walk (walker.cpp): a Content-Type that is
// not type/subtype tokens (RFC 2045 §5.1), an unknown
// Content-Transfer-Encoding (RFC 2045 §6.1), an encoded multipart or
// message (RFC 2045 §6.4); comments are allowed in both (RFC 2045 §3).
//
// Does not: check parameters (RFC 2231) or any other field's syntax,
// decode encoded words, or rewrite anything.
#pragma once

#include <string>

#include "filter/core/envelope.hpp"
#include "filter/core/message_store.hpp"
#include "filter/stages/decode/parts.hpp"

namespace sigil::filter::decode {

// Adds a `bad-header` finding to out.findings for each problem of the
// message's header section.
void header_checks(const MessageStore& message, const Envelope& env, DecodeResult& out);

// What is wrong with an entity's MIME fields (the values as written, or
// nullptr when absent), or "" when nothing.  `multipart`: the entity is a
// multipart or a message/rfc822.
std::string mime_fields_problem(const char* content_type, const char* transfer_encoding,
                                bool multipart);

}  // namespace sigil::filter::decode
