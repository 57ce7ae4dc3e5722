// filter/stages/spam_protocol.hpp — the spam stage's wire formats, inside the
// stage: the request heads and the reply framing the client needs.  The
// reply parsers (parse_spamd_reply, parse_rspamd_reply) and rspamd's request
// head are declared in spam_stage.hpp, where the tests reach them.
//
// Implements spamd's SPAMC/1.5 request head and rspamd's HTTP/1.0 reply
// framing (RFC 1945 §7.2.2, Content-Length).
// Does not: any I/O (spam_stage.cpp), or decide anything from a reply.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "conf/config.hpp"

namespace sigil::filter::spam {

// spamd's request head for a message of `size` bytes (REPORT or SYMBOLS).
std::string spamd_request_head(const conf::SpamConfig& cfg, std::uint64_t size);

// True once `reply` holds an HTTP head and as many body bytes as its
// Content-Length says (rspamd closes anyway; this does not wait for it).
bool http_reply_complete(std::string_view reply);

}  // namespace sigil::filter::spam
