// filter/smtp/smtp_session.hpp — one client connection: the ESMTP/LMTP server side.
//
// Implements RFC 5321 (commands, replies, DATA), RFC 2033 (LMTP: LHLO and one
// reply per recipient after DATA), RFC 2920 (PIPELINING: replies to a batch
// go out in one write, flushed only when no further complete command is
// buffered), RFC 1870 (SIZE, enforced while reading), RFC 6152 (8BITMIME),
// RFC 6531 (SMTPUTF8), RFC 2034 (ENHANCEDSTATUSCODES), RFC 3461 (DSN
// parameters, passed through), and Postfix's XFORWARD: offered to, and
// believed from, only the listener's xforward_hosts (core/peer_trust.hpp);
// anyone else gets 550 5.7.0 for it, with a log line.
//
// Command lines must end in CRLF: a bare LF gets 500 5.5.2 and the line is
// ignored.  A line longer than smtp.max_line_length is discarded through its
// end and gets 500 5.5.2.  After smtp.max_errors bad commands the session
// ends with 421; past smtp.max_junk_commands NOOP/RSET/VRFY/HELP without
// a message in between, each one counts as a bad command too.  See data_reader.hpp for the DATA smuggling rules.  Each
// read waits smtp.idle_timeout between transactions and smtp.command_timeout
// inside one; the whole DATA phase, from the 354 to the dot, has
// smtp.data_timeout, past which the client gets 421 4.4.2 and the session
// ends (timeout-in-data; nothing forwarded), so no client holds a session
// by trickling one byte per read timeout.
//
// The reply to end-of-DATA is given only after the back-end's final reply;
// what it says is core/outcome.hpp's (this session encodes it).
// Does not: TLS, AUTH, CHUNKING/BDAT (502), VRFY (252).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>

#include "conf/config.hpp"
#include "filter/core/envelope.hpp"
#include "filter/core/log.hpp"
#include "filter/core/message_store.hpp"
#include "filter/core/outcome.hpp"
#include "filter/core/recipients.hpp"
#include "filter/net/line_buffer.hpp"
#include "filter/net/peer_connection.hpp"
#include "filter/net/server.hpp"
#include "filter/smtp/data_reader.hpp"
#include "filter/smtp/smtp_command.hpp"

namespace sigil::filter {

class Server;
struct Runtime;
struct DeliveryResult;

// Drain (PeerConnection): an idle session gets 421 and closes now; a busy
// one after its transaction.
class SmtpSession : public PeerConnection, public std::enable_shared_from_this<SmtpSession> {
 public:
  SmtpSession(Server& server, Socket sock, conf::ListenerConfig listener, ClientInfo client);
  ~SmtpSession() override;

  boost::asio::awaitable<void> run();

 private:
  struct Line {
    std::string_view text;
    bool bare_lf = false;
    bool too_long = false;
  };
  enum class ReadEnd { Ok, Closed, Timeout, Drain };
  // Why DATA ended without its dot (data_cut's words index by it).
  enum class DataCut { Closed, ReadTimeout, Deadline };

  boost::asio::awaitable<ReadEnd> read_line(Line& out);
  // One read into the buffer (replies written first), within the idle or
  // command timeout, or `limit` when shorter.
  boost::asio::awaitable<bool> fill(std::optional<Duration> limit = std::nullopt);
  void reply(int code, std::string_view enhanced, std::string_view text);
  void reply(const Reply& r);
  void reply_raw(std::string_view s) { out_ += s; }

  void do_ehlo(std::string_view arg, bool lmtp, bool extended);
  void do_mail(std::string_view arg);
  void do_rcpt(std::string_view arg);
  void do_xforward(std::string_view arg);
  boost::asio::awaitable<bool> do_data();  // false: connection lost or cut
  // The data up to the final dot into store_ (io: the store's status);
  // nullopt when the dot came.
  boost::asio::awaitable<std::optional<DataCut>> receive_data(DataReader& reader, Status& io);
  void data_cut(DataCut why, std::uint64_t bytes);
  // The checks, the deliveries and DSN the outcome asks for, the answer.
  boost::asio::awaitable<void> process_message();
  boost::asio::awaitable<void> deliver(MessageContext& ctx, Outcome& outcome);
  void send_answer(const Answer& a, CheckResult& c, MessageContext& ctx);
  void log_summary(log::Summary& s);  // with the time since MAIL
  // The message's header fields for the summary (Message-ID); null before DATA.
  const HeaderIndex* headers() const { return store_ ? &store_->headers() : nullptr; }
  // The same reply for every recipient (one over SMTP, one each over LMTP).
  void reply_all(int code, std::string_view enhanced, const std::string& text);
  void reset_transaction();
  void bad_command();  // counts errors; the loop closes the session at smtp.max_errors
  // NOOP/RSET/VRFY/HELP: past smtp.max_junk_commands each is also a bad command.
  void junk_command();

  conf::ListenerConfig listener_;
  ClientInfo client_;
  ClientInfo socket_client_;  // before any XFORWARD
  std::shared_ptr<Runtime> rt_;
  const conf::SmtpConfig* smtp_ = nullptr;  // from rt_
  LineBuffer in_;
  bool greeted_ = false;
  bool in_mail_ = false;
  bool quit_ = false;
  unsigned errors_ = 0;
  unsigned junk_ = 0;  // junk commands since the session began or the last message
  Envelope env_;
  std::string log_id_;
  std::unique_ptr<MessageStore> store_;
  std::string scratch_;
  std::uint64_t data_size_ = 0;
  std::chrono::steady_clock::time_point t_mail_;
  // Proxy listener: when the MTA's proxy timeout (peer_timeout) ends for
  // the message in process_message, less a 2 s margin; the back-end's waits
  // are cut to it.  Other listeners: none.
  std::optional<std::chrono::steady_clock::time_point> answer_by_;
};



}  // namespace sigil::filter
