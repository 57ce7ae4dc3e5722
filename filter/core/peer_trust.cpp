// filter/core/peer_trust.cpp — see peer_trust.hpp.
#include "filter/core/peer_trust.hpp"

namespace sigil::filter {

bool xforward_trusted(const conf::ListenerConfig& listener, const ClientInfo& peer) {
  if (listener.address.kind == conf::ListenAddress::Kind::Unix)
    return !listener.xforward_hosts.empty();
  return conf::cidrs_contain(listener.xforward_hosts, peer.ip);
}

bool milter_peer_allowed(const conf::ListenerConfig& listener, const ClientInfo& peer) {
  if (listener.mode != conf::ListenerMode::Milter) return true;
  if (listener.address.kind == conf::ListenAddress::Kind::Unix) return true;
  return conf::cidrs_contain(listener.milter_hosts, peer.ip);
}

bool over_client_limit(const conf::SmtpConfig& smtp, const conf::ListenerConfig& listener,
                       const ClientInfo& peer, std::size_t open) {
  if (smtp.max_sessions_per_client == 0) return false;
  if (listener.mode == conf::ListenerMode::Milter) return false;
  if (listener.address.kind == conf::ListenAddress::Kind::Unix) return false;
  if (conf::cidrs_contain(listener.xforward_hosts, peer.ip)) return false;
  return open >= smtp.max_sessions_per_client;
}

}  // namespace sigil::filter
