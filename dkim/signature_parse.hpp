// dkim/signature_parse.hpp — Sigil's own reading of a DKIM-Signature field:
// the tag-list syntax (RFC 6376 §3.2), the tag checks made before any key is
// looked up (RFC 6376 §3.5, §5.4, §6.1.1; a= per RFC 8301/RFC 8463), the key
// name (§3.6.2.1) and the header.b prefix (RFC 6008 §4).  Internal to dkim/:
// used by the libopendkim glue in verifier.cpp (which also reads key records
// with parse_tag_list) and by auth_results.cpp.  The policy this serves is
// described in verifier.hpp.
// Does not: verify anything, canonicalize or hash, look at key records' tags
// (verifier.cpp does), or do any I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "conf/config.hpp"

namespace sigil::dkim::detail {

using conf::Canon;

// RFC 5234 ALPHA and DIGIT.
bool is_alpha(char c);
bool is_digit(char c);

// `s` with all white space and line ends (FWS) removed.
std::string strip_fws(std::string_view s);

// ------------------------------------------------------------- tag lists

// RFC 6376 §3.2: tag-list = tag-spec *(";" tag-spec) [";"];
// tag-spec = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS];
// tag-name = ALPHA *ALNUMPUNC; tag-value characters are %x21-3A / %x3C-7E
// separated by FWS.  Duplicate tag names make the whole list invalid.  On
// failure `out` keeps the tags read before the error.
struct TagList {
  std::vector<std::pair<std::string, std::string>> tags;  // name, value (trimmed)
  const std::string* find(std::string_view name) const {
    for (const auto& [n, v] : tags)
      if (n == name) return &v;
    return nullptr;
  }
};

// False, with `error` (for the A-R reason), on a syntax error or a duplicate.
bool parse_tag_list(std::string_view s, TagList& out, std::string& error);

// A DNS name as d= and s= may carry it (see signature_parse.cpp).
bool valid_dns_name(std::string_view s);

// The name of a header field: up to the colon, trailing WSP removed (what
// libopendkim compares).  Empty when there is no colon.
std::string_view field_name(std::string_view field);

// ---------------------------------------------------- parsed signatures

// One DKIM-Signature field as Sigil reads it (RFC 6376 §3.5, §6.1.1).
struct ParsedSig {
  bool ok = false;       // usable: its key is requested, the library verifies it
  std::string error;     // !ok: the A-R reason
  std::string domain;    // as written (raw tag value, for the A-R even when !ok)
  std::string selector;
  std::string algorithm;
  std::string identity;  // decoded i=, or "@d"; empty unless the tag list parsed
  std::string b;         // b= without FWS
  std::string qname;     // ok: selector._domainkey.domain, lower case
  std::optional<std::uint64_t> l;
  Canon body_canon = Canon::Simple;
  bool rsa = true;
  bool sha1 = false;
};

// "selector._domainkey.domain" in lower case: the TXT name of a key (RFC
// 6376 §3.6.2.1).
std::string key_qname(std::string_view selector, std::string_view domain);

// Parses and checks one whole DKIM-Signature field (name included).  Never
// fails: a field Sigil rejects comes back !ok with `error` set.
ParsedSig parse_signature(std::string_view field);

// The header.b prefix (RFC 6008 §4) of sigs[i]: at least 8 characters, and
// long enough to tell it from every other signature with a different b=.
std::string b_prefix(const std::vector<ParsedSig>& sigs, std::size_t i);

}  // namespace sigil::dkim::detail
