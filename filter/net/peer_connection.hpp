// filter/net/peer_connection.hpp — the socket side of one front-end connection,
// shared by the SMTP/LMTP session (session.hpp) and the milter session
// (milter_session.hpp): the socket, the output buffer, a watchdog that
// cancels the socket's I/O when a read or a write overruns its time, the
// server's drain (a connection waiting between transactions is cut) and its
// forced close.  It counts in the server's sessions of its client address
// (smtp.max_sessions_per_client) from its construction, at accept, to close(),
// and in its listener's sigil_sessions_open from open() to close().
//
// Does not: frame or parse anything (each session reads its own protocol),
// or keep the connection alive (the session's coroutine holds a shared_ptr
// to its session).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>

#include "filter/core/metrics.hpp"
#include "filter/net/server.hpp"
#include "filter/net/watchdog.hpp"

namespace sigil::filter {

class PeerConnection : public FrontConnection {
 public:
  using Socket = boost::asio::generic::stream_protocol::socket;
  using Duration = std::chrono::steady_clock::duration;
  ~PeerConnection() override;
  PeerConnection(const PeerConnection&) = delete;
  PeerConnection& operator=(const PeerConnection&) = delete;

  // Server drain: a read started between transactions (idle) is cut now; a
  // busy connection ends after its transaction (the session asks
  // server_.draining()).
  void on_drain() override;
  // Drain deadline passed: cut the connection.
  void force_close() override;

 protected:
  // `client_addr`: the peer's address as the server saw it at accept;
  // `metrics`: its listener's (null: metrics off), counted open from open()
  // to close().
  PeerConnection(Server& server, Socket sock, std::string client_addr,
                 metrics::Listener* metrics);

  // Registers with the server and starts the watchdog; TCP_NODELAY on a TCP
  // socket.  Returns true for TCP, false for a Unix socket.
  bool open();
  // Sends what is left in out_ (10 s at most), shuts the socket down, closes
  // it, stops the watchdog and unregisters (its client address included).
  boost::asio::awaitable<void> close();
  // Writes out_ within `timeout`.  False: the write failed or timed out
  // (timed_out() says which).
  boost::asio::awaitable<bool> write_out(Duration timeout);
  // write_out(write_timeout), then one read of what the peer has sent into
  // [p, p + n) within `read_timeout`.  `idle`: the wait is between
  // transactions, so a drain cuts it (and a draining server does not start
  // it).  Returns the bytes read; 0 when the peer closed, the write or the
  // read failed, timed out (timed_out()) or was cut by a drain.
  boost::asio::awaitable<std::size_t> read_some(char* p, std::size_t n, Duration write_timeout,
                                                Duration read_timeout, bool idle);
  bool timed_out() const { return dog_.expired(); }

  Server& server_;
  Socket sock_;
  metrics::Listener* const metrics_;  // the listener's counters; null: metrics off
  std::string out_;  // replies not yet written

 private:
  Watchdog dog_;
  std::string client_addr_;
  bool counted_ = true;  // in the server's per-client count until close()
  bool gauged_ = false;  // in sigil_sessions_open from open() to close()
  bool idle_wait_ = false;
};

}  // namespace sigil::filter
