// filter/milter/milter_session.hpp — one MTA connection on a milter listener
// (mode = "milter"): the milter protocol version 6 (milter_protocol.hpp)
// spoken natively over Asio, so milter connections are coroutines on the
// daemon's event loop like SMTP sessions (libmilter's thread per connection
// and process-global callbacks do not fit).
//
// Negotiation: we take the MTA's version (2..6) and ask for
//   - actions: add/insert headers, change/delete headers, quarantine, delete
//     recipients, as far as the MTA offers them;
//   - SMFIP_HDR_LEADSPC, so header values arrive byte for byte (DESIGN.md:
//     libopendkim needs the exact header bytes; "Name: value" rebuilt from a
//     stripped value would break simple header canonicalization);
//   - no reply to CONNECT, HELO, DATA, headers, end of headers and body
//     chunks (SMFIP_NR_*), and no UNKNOWN/DATA steps, when offered: one
//     round trip per message instead of one per header line.
// MAIL and RCPT are answered (so a draining daemon or a recipient limit can
// say so).  Macros: only {auth_authen} and i at MAIL and i at end of message
// (Postfix otherwise sends a MACRO packet before every header and body
// chunk; dropping them took Postfix + Sigil from 77 % to 84 % of Postfix
// alone in bench/postfix).
//
// The message is rebuilt from the HEADER/EOH/BODY commands into a
// MessageStore in canonical CRLF form, then the same checks as every other
// mode run (core/checks.hpp) at end of message; core/outcome.hpp decides what
// the MTA is told, with what it offered (FrontAbilities), and this session
// encodes it:
//   - pass: the header edits (header_edits.hpp: deletions first, then each
//     recorded field inserted at the top in order, so the DKIM-Signature
//     ends up first, above what it covers), then SMFIR_CONTINUE;
//   - reject: SMFIR_REPLYCODE 554 5.7.1; tempfail: 451 4.7.1; discard:
//     SMFIR_DISCARD; a bounce destiny rejects (the client is still there);
//   - quarantine (the bank lists the category): SMFIR_QUARANTINE, which puts
//     the message on hold in the MTA's queue (listener quarantine = "hold",
//     the default), or Sigil's own store ("store").  An MTA that did not
//     offer SMFIF_QUARANTINE gets 451 for such a message (never passed unheld).
// Recipients cannot be split into separate transactions here: when their
// destinies differ, those not to be delivered are deleted (SMFIR_DELRCPT)
// and the others get the message with the first one's edits.  Deleted
// recipients to reject or bounce get a DSN to the sender first, through
// [forward] (as a proxy listener does); if it cannot be sent now the whole
// message is tempfailed, and so is it when a recipient is to tempfail.
//
// Limits: a packet above max(64 KiB, smtp.max_header_size) closes the
// connection (the MTA applies its milter_default_action); a message above
// smtp.max_message_size or a header section above smtp.max_header_size gets
// 552 at end of message; more than smtp.max_recipients gets 452 per extra
// RCPT; smtp.idle_timeout between transactions and smtp.command_timeout
// inside one bound every read.
//
// Does not: change the body (SMFIR_REPLBODY), the sender, or add recipients;
// send SMFIR_PROGRESS (the listener's budget keeps the verdict within the
// MTA's milter_content_timeout instead).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>

#include "conf/config.hpp"
#include "filter/core/envelope.hpp"
#include "filter/core/log.hpp"
#include "filter/core/message_store.hpp"
#include "filter/core/outcome.hpp"
#include "filter/milter/milter_protocol.hpp"
#include "filter/net/peer_connection.hpp"
#include "filter/net/server.hpp"

namespace sigil::filter {


class MilterSession : public PeerConnection, public std::enable_shared_from_this<MilterSession> {
 public:
  MilterSession(Server& server, Socket sock, conf::ListenerConfig listener, ClientInfo peer);
  ~MilterSession() override;

  boost::asio::awaitable<void> run();

 private:
  enum class Step { Ok, Close };
  boost::asio::awaitable<bool> fill();  // one read into the framer (replies written first)
  Step handle(const milter::Packet& p);
  boost::asio::awaitable<void> end_of_message(std::string last_chunk);
  std::string finish_message(std::string_view last_chunk);
  boost::asio::awaitable<void> check(log::Summary& s);
  void log_summary(log::Summary& s);
  FrontAbilities abilities() const;
  void send_answer(const Answer& a, const Outcome& outcome, const MessageContext& ctx);
  void send(std::string packet) { out_ += packet; }
  void continue_unless_no_reply(std::uint32_t nr_flag);  // SMFIR_CONTINUE unless the step is no-reply
  Step optneg(std::string_view d);
  void on_mail(std::string_view d);
  void on_rcpt(std::string_view d);
  void append(std::string_view bytes);  // into the store, within the size limit
  void append_body(std::string_view chunk);
  void reset_message();
  void reset_connection();
  log::Summary summary() const;

  conf::ListenerConfig listener_;
  ClientInfo peer_;    // the socket's peer (the MTA)
  ClientInfo client_;  // the SMTP client, from CONNECT
  std::shared_ptr<Runtime> rt_;
  milter::Framer framer_;
  milter::Optneg neg_;  // what was agreed
  bool negotiated_ = false;
  bool tcp_ = false;  // TCP (not a Unix socket): NODELAY, QUICKACK
  bool authenticated_ = false;
  std::string queue_id_;  // the MTA's (macro i)
  bool in_mail_ = false;
  bool eoh_ = false;
  bool header_seen_ = false;
  bool too_big_ = false;
  bool last_cr_ = false;  // the previous body chunk ended in CR
  Envelope env_;
  std::string log_id_;
  std::unique_ptr<MessageStore> store_;
  Status io_ = Ok{};
  std::string scratch_;
  std::chrono::steady_clock::time_point t_mail_;
  // When the MTA stops waiting for our end-of-message reply
  // (milter_content_timeout = peer_timeout, less 2 s): bounds the DSN.
  std::chrono::steady_clock::time_point answer_by_;
};

}  // namespace sigil::filter
