// filter/core/envelope.hpp — one SMTP transaction's envelope and client facts:
// the reverse path and forward paths with their ESMTP parameters (RFC 5321
// §4.1.1.2–3, DSN parameters RFC 3461), XFORWARD attributes as received, and
// the client's address, HELO and whether it spoke LMTP (RFC 2033).
//
// Does not: parse or check any of it (smtp/smtp_command.hpp, the milter
// session), or decide whether a peer's XFORWARD is trusted (core/peer_trust.hpp).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "filter/core/smtp_text.hpp"

namespace sigil::filter {

struct Recipient {
  std::string address;
  std::vector<Param> params;  // NOTIFY, ORCPT: passed through to a DSN-capable back-end
};

struct Envelope {
  std::string sender;
  std::vector<Param> mail_params;  // RET, ENVID (BODY, SIZE, SMTPUTF8 are re-derived)
  std::vector<Recipient> recipients;
  bool smtputf8 = false;
  bool body_8bit = false;  // BODY=8BITMIME was given
  // XFORWARD attributes as received (xtext kept), passed on to the back-end.
  std::vector<std::pair<std::string, std::string>> xforward;
};

struct ClientInfo {
  std::string addr;  // numeric, from the socket or XFORWARD ADDR
  std::uint16_t port = 0;
  std::string helo;
  std::optional<std::array<std::uint8_t, 16>> ip;  // parsed addr, for network banks
  bool lmtp = false;                                // the client spoke LHLO
};

}  // namespace sigil::filter
