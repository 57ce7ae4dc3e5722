// filter/smtp/smtp_session.cpp — see smtp_session.hpp.
#include "filter/smtp/smtp_session.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "conf/ascii.hpp"
#include "filter/core/checks.hpp"
#include "filter/core/peer_trust.hpp"
#include "filter/core/recipients.hpp"
#include "filter/delivery/backend.hpp"
#include "filter/delivery/dsn.hpp"
#include "filter/net/server.hpp"

namespace sigil::filter {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

SmtpSession::SmtpSession(Server& server, Socket sock, conf::ListenerConfig listener, ClientInfo client)
    : PeerConnection(server, std::move(sock), client.addr, metrics::listener(listener.name)),
      listener_(std::move(listener)),
      client_(std::move(client)),
      socket_client_(client_),
      in_(16 * 1024) {}

// XXX: no vptr check (see ~PeerConnection).
__attribute__((no_sanitize("vptr"))) SmtpSession::~SmtpSession() = default;

void SmtpSession::reply(int code, std::string_view enhanced, std::string_view text) {
  out_ += fmt::format("{}", code);
  if (!enhanced.empty()) {
    out_ += ' ';
    out_ += enhanced;
  }
  out_ += ' ';
  // Never let a peer's text inject a line end into our reply.
  for (char c : text) out_.push_back(c == '\r' || c == '\n' ? ' ' : c);
  out_ += "\r\n";
}

void SmtpSession::reply(const Reply& r) {
  reply(r.code, r.enhanced, r.lines.empty() ? std::string_view{} : std::string_view(r.lines.front()));
}

asio::awaitable<bool> SmtpSession::fill(std::optional<Duration> limit) {
  std::size_t avail = 0;
  char* p = in_.prepare(4096, avail);
  Duration wait = in_mail_ ? smtp_->command_timeout : smtp_->idle_timeout;
  if (limit) wait = std::min(wait, *limit);
  std::size_t n = co_await read_some(p, avail, smtp_->command_timeout, wait, !in_mail_);
  if (n == 0) co_return false;
  in_.commit(n);
  co_return true;
}

asio::awaitable<SmtpSession::ReadEnd> SmtpSession::read_line(Line& out) {
  bool discarding = false;
  for (;;) {
    if (auto l = in_.peek_line()) {
      in_.consume(l->total);
      if (discarding || l->total > smtp_->max_line_length + 2) {
        out = Line{{}, false, true};
        co_return ReadEnd::Ok;
      }
      out = Line{l->text, l->bare_lf, false};
      co_return ReadEnd::Ok;
    }
    if (in_.data().size() > smtp_->max_line_length + 2) {
      discarding = true;
      in_.consume(in_.data().size());
    }
    if (!co_await fill()) {
      if (timed_out()) co_return ReadEnd::Timeout;
      if (server_.draining() && !in_mail_) co_return ReadEnd::Drain;
      co_return ReadEnd::Closed;
    }
  }
}

void SmtpSession::bad_command() { ++errors_; }

void SmtpSession::junk_command() {
  if (++junk_ > smtp_->max_junk_commands) bad_command();
}

void SmtpSession::reset_transaction() {
  in_mail_ = false;
  env_ = Envelope{};
  if (store_) store_->reset();
  log_id_.clear();
  data_size_ = 0;
  client_ = ClientInfo{socket_client_.addr, socket_client_.port, client_.helo, socket_client_.ip,
                       client_.lmtp};
}

asio::awaitable<void> SmtpSession::run() {
  auto self = shared_from_this();
  open();
  rt_ = server_.runtime();
  smtp_ = &rt_->config->smtp;
  try {
    reply(220, "", smtp_->hostname + " ESMTP Sigil ready");
    while (!quit_) {
      if (errors_ >= smtp_->max_errors) {
        log::smtp().info("{}: {} bad commands ({} NOOP/RSET/VRFY/HELP since the last message), "
                         "closing", client_.addr, errors_, junk_);
        reply(421, "4.7.0", smtp_->hostname + " Too many errors, closing connection");
        break;
      }
      if (server_.draining() && !in_mail_) {
        reply(421, "4.3.2", smtp_->hostname + " Service shutting down, closing connection");
        break;
      }
      Line line;
      auto end = co_await read_line(line);
      if (end == ReadEnd::Timeout) {
        log::smtp().info("{}: timeout after {}s {}", client_.addr,
                         (in_mail_ ? smtp_->command_timeout : smtp_->idle_timeout).count(),
                         in_mail_ ? "in a transaction" : "idle");
        reply(421, "4.4.2", smtp_->hostname + " Timeout, closing connection");
        break;
      }
      if (end == ReadEnd::Drain) continue;  // loop top sends 421
      if (end == ReadEnd::Closed) {
        if (in_mail_)
          log::smtp().info("{}: client {} disconnected inside a transaction; nothing forwarded",
                           log_id_, client_.addr);
        break;
      }
      if (line.too_long) {
        reply(500, "5.5.2", "Line too long");
        bad_command();
        continue;
      }
      if (line.bare_lf) {
        reply(500, "5.5.2", "Bare LF in command; lines must end with CRLF");
        bad_command();
        continue;
      }
      if (line.text.find('\0') != std::string_view::npos ||
          line.text.find('\r') != std::string_view::npos) {
        reply(500, "5.5.2", "Control character in command");
        bad_command();
        continue;
      }
      Command cmd = parse_command(line.text);
      switch (cmd.verb) {
        case Verb::Ehlo: do_ehlo(cmd.arg, false, true); break;
        case Verb::Helo: do_ehlo(cmd.arg, false, false); break;
        case Verb::Lhlo: do_ehlo(cmd.arg, true, true); break;
        case Verb::Mail: do_mail(cmd.arg); break;
        case Verb::Rcpt: do_rcpt(cmd.arg); break;
        case Verb::Xforward: do_xforward(cmd.arg); break;
        case Verb::Data:
          if (!co_await do_data()) quit_ = true;
          break;
        case Verb::Rset:
          reset_transaction();
          reply(250, "2.0.0", "Ok");
          junk_command();
          break;
        case Verb::Noop:
          reply(250, "2.0.0", "Ok");
          junk_command();
          break;
        case Verb::Quit:
          reply(221, "2.0.0", "Bye");
          quit_ = true;
          break;
        case Verb::Vrfy:
          reply(252, "2.5.2", "Cannot VRFY; send some mail");
          junk_command();
          break;
        case Verb::Help:
          reply(214, "2.0.0", "See RFC 5321");
          junk_command();
          break;
        case Verb::Bdat:
        case Verb::Starttls:
          reply(502, "5.5.1", "Command not implemented");
          bad_command();
          break;
        case Verb::Unknown:
          reply(500, "5.5.2", "Command not recognized");
          bad_command();
          break;
      }
    }
  } catch (const std::exception& e) {
    // Programmer error: answer 451 so the front MTA retries, and log it.
    log::smtp().error("{}: internal error: {}", log_id_.empty() ? client_.addr : log_id_,
                      e.what());
    out_.clear();
    reply(451, "4.3.0", "Internal error, try again later");
  }
  co_await close();
}

void SmtpSession::do_ehlo(std::string_view arg, bool lmtp, bool extended) {
  while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
  if (arg.empty()) {
    reply(501, "5.5.4", "Syntax: HELO/EHLO hostname");
    bad_command();
    return;
  }
  reset_transaction();
  greeted_ = true;
  client_.lmtp = lmtp;
  socket_client_.lmtp = lmtp;
  client_.helo = std::string(arg.substr(0, 255));
  socket_client_.helo = client_.helo;
  if (!extended) {
    reply(250, "", smtp_->hostname);
    return;
  }
  std::string r = "250-" + smtp_->hostname + "\r\n";
  r += "250-PIPELINING\r\n";
  r += fmt::format("250-SIZE {}\r\n", smtp_->max_message_size);
  r += "250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n";
  if (xforward_trusted(listener_, socket_client_))
    r += "250-XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\r\n";
  r += "250 DSN\r\n";
  reply_raw(r);
}

void SmtpSession::do_mail(std::string_view arg) {
  if (!greeted_) {
    reply(503, "5.5.1", "Error: send HELO/EHLO first");
    bad_command();
    return;
  }
  if (in_mail_) {
    reply(503, "5.5.1", "Error: nested MAIL command");
    bad_command();
    return;
  }
  if (server_.draining()) {
    reply(421, "4.3.2", "Service shutting down");
    quit_ = true;
    return;
  }
  auto p = parse_mail_from(arg);
  if (!p.ok()) {
    reply(p.error.code, p.error.enhanced, p.error.text);
    bad_command();
    return;
  }
  Envelope env;
  env.sender = std::move(p.value->address);
  for (auto& prm : p.value->params) {
    if (prm.key == "SIZE") {
      std::uint64_t sz = 0;
      auto [ptr, ec] = std::from_chars(prm.value.data(), prm.value.data() + prm.value.size(), sz);
      if (!prm.has_value || ec != std::errc{} || ptr != prm.value.data() + prm.value.size()) {
        reply(501, "5.5.4", "Bad SIZE parameter");
        bad_command();
        return;
      }
      if (sz > smtp_->max_message_size) {
        reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
        return;
      }
    } else if (prm.key == "BODY") {
      std::string v = prm.value;
      for (auto& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (v == "8BITMIME") env.body_8bit = true;
      else if (v != "7BIT") {
        reply(555, "5.5.4", "Unsupported BODY parameter value");
        bad_command();
        return;
      }
    } else if (prm.key == "SMTPUTF8" && !prm.has_value) {
      env.smtputf8 = true;
    } else if (prm.key == "RET" && prm.has_value) {
      std::string v = prm.value;
      for (auto& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (v != "FULL" && v != "HDRS") {
        reply(501, "5.5.4", "Bad RET parameter");
        bad_command();
        return;
      }
      env.mail_params.push_back(prm);
    } else if (prm.key == "ENVID" && prm.has_value) {
      if (prm.value.size() > 100 || !xtext_decode(prm.value)) {
        reply(501, "5.5.4", "Bad ENVID parameter");
        bad_command();
        return;
      }
      env.mail_params.push_back(prm);
    } else {
      reply(555, "5.5.4", "Unsupported MAIL parameter " + prm.key);
      bad_command();
      return;
    }
  }
  if (!env.smtputf8 && !ascii::is_ascii(env.sender)) {
    reply(553, "5.6.7", "Non-ASCII sender address requires SMTPUTF8");
    bad_command();
    return;
  }
  env.xforward = std::move(env_.xforward);
  env_ = std::move(env);
  in_mail_ = true;
  log_id_ = new_log_id();
  t_mail_ = Clock::now();
  rt_ = server_.runtime();  // the configuration this transaction runs under
  smtp_ = &rt_->config->smtp;
  reply(250, "2.1.0", "Ok");
}

void SmtpSession::do_rcpt(std::string_view arg) {
  if (!in_mail_) {
    reply(503, "5.5.1", "Error: need MAIL command");
    bad_command();
    return;
  }
  auto p = parse_rcpt_to(arg);
  if (!p.ok()) {
    reply(p.error.code, p.error.enhanced, p.error.text);
    bad_command();
    return;
  }
  if (env_.recipients.size() >= smtp_->max_recipients) {
    reply(452, "4.5.3", "Error: too many recipients");
    return;
  }
  for (auto& prm : p.value->params) {
    if (prm.key == "NOTIFY" && prm.has_value) {
      std::string v = prm.value;
      for (auto& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      bool okv = !v.empty();
      bool never = false, other = false;
      std::size_t pos = 0;
      while (okv && pos <= v.size()) {
        auto comma = v.find(',', pos);
        auto w = v.substr(pos, comma - pos);
        if (w == "NEVER") never = true;
        else if (w == "SUCCESS" || w == "FAILURE" || w == "DELAY") other = true;
        else okv = false;
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
      if (!okv || (never && other)) {
        reply(501, "5.5.4", "Bad NOTIFY parameter");
        bad_command();
        return;
      }
    } else if (prm.key == "ORCPT" && prm.has_value) {
      auto semi = prm.value.find(';');
      if (semi == std::string::npos || semi == 0 || prm.value.size() > 500 ||
          !xtext_decode(prm.value.substr(semi + 1))) {
        reply(501, "5.5.4", "Bad ORCPT parameter");
        bad_command();
        return;
      }
    } else {
      reply(555, "5.5.4", "Unsupported RCPT parameter " + prm.key);
      bad_command();
      return;
    }
  }
  if (!env_.smtputf8 && !ascii::is_ascii(p.value->address)) {
    reply(553, "5.6.7", "Non-ASCII recipient address requires SMTPUTF8");
    return;
  }
  env_.recipients.push_back(Recipient{std::move(p.value->address), std::move(p.value->params)});
  reply(250, "2.1.5", "Ok");
}

void SmtpSession::do_xforward(std::string_view arg) {
  if (!xforward_trusted(listener_, socket_client_)) {
    // Only the listener's own MTA may speak for another client.
    log::smtp().warn("{}: XFORWARD refused: not in listener {}'s xforward_hosts",
                     socket_client_.addr, listener_.name);
    reply(550, "5.7.0", "XFORWARD not allowed from your address");
    bad_command();
    return;
  }
  if (in_mail_) {
    reply(503, "5.5.1", "Error: XFORWARD not allowed in a mail transaction");
    bad_command();
    return;
  }
  auto p = parse_xforward(arg);
  if (!p.ok()) {
    reply(p.error.code, p.error.enhanced, p.error.text);
    bad_command();
    return;
  }
  for (auto& [k, v] : *p.value) {
    auto it = std::find_if(env_.xforward.begin(), env_.xforward.end(),
                           [&](auto& kv) { return kv.first == k; });
    if (it != env_.xforward.end()) it->second = v;
    else env_.xforward.emplace_back(k, v);
    if (k == "ADDR") {
      auto decoded = xtext_decode(v).value_or("");
      std::string_view a = decoded;
      // Postfix writes "IPv6:2001:db8::1"; compare the prefix case-insensitively.
      if (a.size() > 5 && (a[0] | 0x20) == 'i' && (a[1] | 0x20) == 'p' && (a[2] | 0x20) == 'v' &&
          a[3] == '6' && a[4] == ':')
        a.remove_prefix(5);
      client_.ip = conf::parse_ip(a);
      client_.addr = client_.ip ? std::string(a) : socket_client_.addr;
      if (!client_.ip) client_.ip = socket_client_.ip;
    } else if (k == "PORT") {
      unsigned port = 0;
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), port);
      if (ec == std::errc{} && port < 65536) client_.port = static_cast<std::uint16_t>(port);
    } else if (k == "HELO") {
      if (auto d = xtext_decode(v)) client_.helo = *d;
    }
  }
  reply(250, "2.0.0", "Ok");
}

asio::awaitable<bool> SmtpSession::do_data() {
  if (!in_mail_) {
    reply(503, "5.5.1", "Error: need MAIL command");
    bad_command();
    co_return true;
  }
  if (env_.recipients.empty()) {
    reply(554, "5.5.1", "Error: no valid recipients");
    co_return true;
  }
  reply(354, "", "End data with <CR><LF>.<CR><LF>");
  const auto& dcfg = rt_->config->daemon;
  if (!store_) store_ = std::make_unique<MessageStore>(dcfg.memory_threshold, dcfg.spool_dir,
                                                       smtp_->max_header_size);
  store_->reset();
  DataReader reader(smtp_->max_message_size);
  Status io = Ok{};
  if (auto cut = co_await receive_data(reader, io)) {
    data_cut(*cut, reader.size());
    co_return false;
  }
  if (io) io = store_->finish();
  data_size_ = reader.size();
  if (reader.too_big()) {
    reply_all(552, "5.3.4", "Message size exceeds fixed limit");
  } else if (reader.bare_newline()) {
    reply_all(554, "5.6.0", "Message refused: bare CR or LF in data (RFC 5321 2.3.8)");
  } else if (store_->headers().overflow()) {
    reply_all(552, "5.3.4", "Header section exceeds the size limit");
  } else if (!io) {
    log::smtp().error("{}: {}", log_id_, io.error().message);
    reply_all(451, "4.3.0", "Local error storing the message, try again later");
  } else {
    co_await process_message();
    reset_transaction();
    junk_ = 0;
    co_return true;
  }
  // Refused before the pipeline: still one summary line.
  log::Summary s = log::start_summary(log_id_, client_, env_, data_size_, headers());
  s.action = log::SummaryAction::Refused;
  s.backend = out_.substr(0, out_.find('\r'));
  log_summary(s);
  reset_transaction();
  co_return true;
}

// Reads until the final dot, each read within smtp.command_timeout and all of
// them within smtp.data_timeout from the 354.
asio::awaitable<std::optional<SmtpSession::DataCut>> SmtpSession::receive_data(DataReader& reader,
                                                                              Status& io) {
  const auto data_end = Clock::now() + smtp_->data_timeout;
  for (;;) {
    auto d = in_.data();
    if (!d.empty()) {
      scratch_.clear();
      auto step = reader.feed(d.data(), d.size(), scratch_);
      in_.consume(step.consumed);
      if (io && !scratch_.empty()) io = store_->append(scratch_);
      if (step.done) co_return std::nullopt;
    }
    auto left = data_end - Clock::now();
    if (left <= Duration::zero()) co_return DataCut::Deadline;
    if (!co_await fill(left)) {
      if (!timed_out()) co_return DataCut::Closed;
      co_return Clock::now() >= data_end ? DataCut::Deadline : DataCut::ReadTimeout;
    }
  }
}

// DATA ended without its dot: nothing is forwarded; one summary line, and a
// 421 when we are the ones who end it.
void SmtpSession::data_cut(DataCut why, std::uint64_t bytes) {
  static constexpr const char* kWhat[] = {"disconnected", "timed out (smtp.command_timeout)",
                                          "overran smtp.data_timeout"};
  log::smtp().info("{}: client {} {} during DATA after {} bytes; nothing forwarded", log_id_,
                   client_.addr, kWhat[static_cast<int>(why)], bytes);
  log::Summary s = log::start_summary(log_id_, client_, env_, bytes, headers());
  s.action = why == DataCut::Closed ? log::SummaryAction::Aborted
                                    : log::SummaryAction::TimeoutInData;
  log_summary(s);
  if (why == DataCut::ReadTimeout) reply(421, "4.4.2", smtp_->hostname + " Timeout in DATA");
  if (why == DataCut::Deadline)
    reply(421, "4.4.2",
          fmt::format("{} Error: data timeout ({} s for the whole message), closing connection",
                      smtp_->hostname, smtp_->data_timeout.count()));
}

void SmtpSession::reply_all(int code, std::string_view enhanced, const std::string& text) {
  std::string t = log_id_ + " " + text;
  std::size_t n = client_.lmtp ? env_.recipients.size() : 1;
  for (std::size_t i = 0; i < n; ++i) reply(code, enhanced, t);
}

asio::awaitable<void> SmtpSession::process_message() {
  auto rt = rt_;  // keep the snapshot alive through the await points
  MessageContext ctx{log_id_, client_, env_, *store_};
  if (listener_.budget) ctx.budget_end = Clock::now() + *listener_.budget;
  // The proxy's front smtpd waits peer_timeout for our reply to the dot:
  // the stages (their budget) and then the after-filter smtpd must both fit.
  answer_by_.reset();
  if (listener_.mode == conf::ListenerMode::Proxy)
    answer_by_ = Clock::now() + listener_.peer_timeout - std::chrono::seconds(2);
  CheckOptions opt;
  opt.bank = listener_.bank;
  opt.front.per_recipient_replies = client_.lmtp;
  opt.front.live = listener_.mode == conf::ListenerMode::Proxy;
  opt.front.split_delivery = true;
  CheckResult c;
  co_await run_checks(*rt, opt, ctx, c);
  Outcome outcome(ctx, c, opt.front, rt->config->dsn);
  co_await deliver(ctx, outcome);
  send_answer(outcome.answer(), c, ctx);
}

// The outcome's back-end transactions, then its DSN.
asio::awaitable<void> SmtpSession::deliver(MessageContext& ctx, Outcome& outcome) {
  auto rt = rt_;
  for (std::size_t g = 0; g < outcome.groups().size(); ++g) {
    const DeliveryGroup& group = outcome.groups()[g];
    DeliveryRequest req{group.envelope(ctx), *store_, group.edits(ctx), log_id_, client_.lmtp,
                        answer_by_};
    outcome.delivered(g, co_await rt->backend->deliver(req));
  }
  if (!outcome.bounces().empty())
    outcome.dsn_sent(co_await send_dsn(*rt->backend, ctx, outcome.bounces(), *rt->config,
                                       smtp_->hostname, log_id_ + "-dsn", answer_by_));
}

// Postfix's queue ID in a back-end reply ("250 2.0.0 Ok: queued as
// 4Qx9sM2cLz"), or "".
static std::string_view queued_as(std::string_view reply) {
  constexpr std::string_view kMark = "queued as ";
  auto at = reply.find(kMark);
  if (at == std::string_view::npos) return {};
  reply.remove_prefix(at + kMark.size());
  auto alnum = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  };
  std::size_t n = 0;
  while (n < reply.size() && alnum(reply[n])) ++n;
  return reply.substr(0, n);
}

// The answer as SMTP replies (one, or one per recipient over LMTP), and the
// summary line.
void SmtpSession::send_answer(const Answer& a, CheckResult& c, MessageContext& ctx) {
  if (client_.lmtp) {
    for (const auto& r : a.per_recipient) reply(r);
  } else {
    reply(a.reply);
  }
  log::Summary s = log::start_summary(log_id_, client_, env_, data_size_, headers());
  s.bank = c.policy->banks;
  s.action = a.action;
  s.backend = a.backend;
  s.stages = std::move(c.records);
  s.notes = std::move(ctx.notes);
  // A before-queue smtpd has no queue file yet, so no usable XFORWARD
  // IDENT: the message's queue ID is the one the after-filter smtpd, our
  // back-end, gave it.
  if (s.queue_id.empty() && listener_.mode == conf::ListenerMode::Proxy)
    log::set_queue_id(s, queued_as(a.backend));
  log_summary(s);
}

void SmtpSession::log_summary(log::Summary& s) {
  s.time = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t_mail_);
  log::summary_logger().info("{}", log::format_summary(s, rt_->config->daemon.log_json));
  metrics::message(metrics_, s.bank, s.action, s.size);
}

}  // namespace sigil::filter
