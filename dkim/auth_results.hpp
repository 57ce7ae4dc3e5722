// dkim/auth_results.hpp — the Authentication-Results header field for DKIM
// results (RFC 8601 §2.2, §2.7.1; header.b per RFC 6008): writing ours, and
// recognising fields that claim our authserv-id so they can be removed
// first (RFC 8601 §5).  Included by verifier.hpp, so callers of
// verifier.hpp see these too.
// Does not: parse the results in other A-R fields, know any method but
// dkim=, or decide which fields to remove (filter/stages/dkim_verify_stage).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sigil::dkim {

struct SignatureResult;  // verifier.hpp

// The complete Authentication-Results field (folded, ending in CRLF):
//   Authentication-Results: <authserv_id>;
//     dkim=pass (2048-bit key) header.d=example.com header.s=s1
//     header.a=rsa-sha256 header.b=AbCdEfGh;
//     dkim=fail reason="body hash mismatch" (1024-bit key) header.d=...
// `dkim=none` when `results` is empty.  Reasons are quoted strings with
// quotes and backslashes escaped; d= values are given as written.
std::string authentication_results(std::string_view authserv_id,
                                   const std::vector<SignatureResult>& results);

// True when an Authentication-Results field (the whole field, name included)
// claims `authserv_id` (compared case-insensitively, comments and folding
// skipped), so that it must be removed before ours is added (RFC 8601 §5).
bool claims_authserv_id(std::string_view field, std::string_view authserv_id);

}  // namespace sigil::dkim
