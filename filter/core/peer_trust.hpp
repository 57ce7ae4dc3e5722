// filter/core/peer_trust.hpp — what a listener grants the peer on its socket:
// whether its XFORWARD is believed, and whether smtp.max_sessions_per_client
// counts it.
//
// XFORWARD (Postfix's XFORWARD_README) lets the peer claim another client's
// address, name, HELO and protocol (PROTO=ESMTPA makes mail "originating",
// so signed), so it is believed only from the MTA that feeds the listener:
// the listener's xforward_hosts, as Postfix's smtpd_authorized_xforward_hosts.
// The same peers are exempt from the per-client session limit, as Postfix
// exempts $mynetworks from smtpd_client_connection_count_limit: behind
// Postfix every connection comes from Postfix's own address, and its process
// limit already bounds them.  A Unix-socket peer has no address (the socket's
// unix_mode decides who connects): trusted unless xforward_hosts is empty,
// and never counted per client.  A milter listener's peers are MTAs, whose
// macros (client address, {auth_authen}) it believes: on TCP only those in
// its milter_hosts may connect; they are never limited per client.
//
// Does not: parse XFORWARD (smtp/smtp_command.hpp), count sessions
// (net/server.hpp) or answer the peer (the fronts).
#pragma once

#include <cstddef>

#include "conf/config.hpp"
#include "filter/core/envelope.hpp"

namespace sigil::filter {

// The listener believes XFORWARD from `peer` (the socket's client, before any
// XFORWARD) and offers it in its EHLO reply.
bool xforward_trusted(const conf::ListenerConfig& listener, const ClientInfo& peer);

// The milter listener serves `peer` (always, for a listener of another mode
// or on a Unix socket).
bool milter_peer_allowed(const conf::ListenerConfig& listener, const ClientInfo& peer);

// A new connection from `peer` would be over smtp.max_sessions_per_client,
// `open` being the sessions that peer's address already has.
bool over_client_limit(const conf::SmtpConfig& smtp, const conf::ListenerConfig& listener,
                       const ClientInfo& peer, std::size_t open);

}  // namespace sigil::filter
