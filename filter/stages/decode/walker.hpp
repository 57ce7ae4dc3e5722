// filter/stages/decode/walker.hpp — the MIME walk over GMime 3.
//
// The message is parsed straight from the MessageStore (a memory stream,
// or a file stream on a dup() of the spool file: a spooled message is never
// loaded into memory) and every MIME entity is walked, multiparts and
// message/rfc822 parts recursively (RFC 2046 §5).  Each leaf is decoded
// from its Content-Transfer-Encoding (base64 and quoted-printable, RFC 2045
// §6.7, §6.8; also x-uuencode) by GMime's filters in chunks, never held
// whole, and recorded as a PartInfo: its declared type (RFC 2045 §5.2:
// "text/plain" by default), its declared file name (GMime's: the
// Content-Disposition filename of RFC 2183, else the Content-Type name,
// RFC 2231 and RFC 2047 decoded by GMime), the type libmagic detects and
// its decoded size (content.cpp); archives among them are opened
// (archives.cpp).  The walk stops, with an `unchecked` finding, at more
// than [decode] max_parts entities, nesting deeper than max_depth, the time
// limit, the expansion quota, or an ambiguous multipart (no boundary
// parameter, or more than one: parsers disagree on which one counts).  Each
// entity's MIME fields are checked (header_checks.hpp).
//
// Does not: bound GMime's own parser recursion before the walk (GMime
// builds the whole tree first), interrupt GMime's parse of the message
// itself (the time limit is checked during the walk), decrypt anything, or
// look inside documents (OLE, PDF).
#pragma once

#include <chrono>
#include <optional>

#include "conf/config.hpp"
#include "filter/core/message_store.hpp"
#include "filter/stages/decode/parts.hpp"

namespace sigil::filter::decode {

// Parses `message` and walks it, adding to out.parts and out.findings
// (`unchecked` and `bad-header`); the walk stops at `stop_at`.  Never throws
// for message contents; a spool that cannot be read, or a message GMime
// cannot parse, gives an `unchecked` finding.  Thread-safe.
void walk_message(const MessageStore& message, const conf::DecodeConfig& cfg,
                  std::optional<std::chrono::steady_clock::time_point> stop_at, DecodeResult& out);

}  // namespace sigil::filter::decode
