// conf/values.hpp — the checks and parsers of single configuration values
// (internal to conf/; the public parsers are declared in conf/config.hpp).
//
// Each function looks at one string as written in the file: a domain name,
// an address pattern, an identity, a header field name, a stage or category
// name.  Lexical rules come from RFC 1035 §2.3.4 (label and name lengths),
// RFC 5321 §4.1.2 (sub-domain), RFC 5322 §3.2.3, §3.4.1 and §3.6.8 (atext,
// dot-atom, field-name), RFC 6532 §3.2 (UTF-8 local parts) and RFC 6376
// §3.1 and §3.5 (selector, d=, i=).
//
// Does not: read TOML, report errors with file:line:key (conf/loader.hpp
// does, from what these return), or resolve or look anything up.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.hpp"

namespace sigil::conf::detail {

// LDH labels separated by dots (RFC 5321 §4.1.2 sub-domain, RFC 1035 §2.3.4
// lengths).  A DKIM d= needs at least two labels (RFC 6376 §3.5
// domain-name); a selector (§3.1) and a match pattern do not.
bool valid_dns_name(std::string_view d, bool need_dot);

// A DNS name to look up: labels of letters, digits, '-' and '_' (DKIM's
// "_domainkey"), RFC 1035 §2.3.4 lengths, one trailing dot allowed.
bool valid_lookup_name(std::string_view d);

// RFC 5322 §3.2.3 dot-atom text; bytes >= 0x80 allowed (RFC 6532 §3.2).
bool dot_atom(std::string_view s);

// RFC 5322 §3.6.8 field-name: printable US-ASCII except colon.
bool field_name(std::string_view s);

// A complete header field "Name: value" on one line of at most 998
// characters (RFC 5322 §2.1.1).
bool header_field_line(std::string_view h);

// The name of a configuration object ([[key]] name, scanner name, [banned.NAME]):
// not empty; letters, digits, '-', '_', '.'.
bool object_name(std::string_view s);

// A [[signing]] match pattern: "user@domain", "domain", ".domain" or ".".
// Returns "" when valid, else why not.  Lower-cases `p` in place.
std::string check_pattern(std::string& p);

// i= (RFC 6376 §3.5): [ Local-part ] "@" domain-name.  Returns "" when
// valid, else why not.  Lower-cases the domain in place.
std::string check_identity(std::string& id);

// The domain of an identity ("user@d" or "@d"): what follows the last '@'.
std::string_view identity_domain(std::string_view id);

// `sub` is `domain` or a subdomain of it.
bool within_domain(std::string_view sub, std::string_view domain);

// `names` holds `n`, compared without regard to case (header field names).
bool contains_name(const std::vector<std::string>& names, std::string_view n);

// One [[recipient]] match pattern ("user@example.com", "user@",
// "example.com", ".example.com", "."), or with `domains_only` a
// [recipients] local_domains entry.  Returns the lower-cased pattern, or ""
// when invalid.
std::string recipient_pattern(std::string_view s, bool domains_only);

// A stage name of kStageNames.
bool is_stage_name(std::string_view s);

// The category named `s` (kCategoryNames), if any.
std::optional<Category> category_named(std::string_view s);

// `names` for a message: "a, b, c", or with last_sep " or " "a, b or c".
std::string name_list(std::span<const std::string_view> names, std::string_view last_sep = ", ");

}  // namespace sigil::conf::detail
