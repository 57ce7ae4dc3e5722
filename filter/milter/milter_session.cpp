// filter/milter/milter_session.cpp — see milter_session.hpp.
#include "filter/milter/milter_session.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <charconv>

#include <spdlog/spdlog.h>

#include "filter/core/checks.hpp"
#include "filter/core/recipients.hpp"
#include "filter/delivery/dsn.hpp"
#include "filter/milter/header_edits.hpp"

namespace sigil::filter {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
namespace m = milter;

// Actions we use, when offered.
static constexpr std::uint32_t kWantActions =
    m::kAddHdrs | m::kChgHdrs | m::kQuarantineAct | m::kDelRcptAct;
// Steps we do not need sent, and steps we need not answer, when offered.
static constexpr std::uint32_t kWantProtocol = m::kNoUnknown | m::kNoData | m::kHdrLeadSpc |
                                               m::kNrConn | m::kNrHelo | m::kNrData | m::kNrUnkn |
                                               m::kNrEoh | m::kNrHdr | m::kNrBody;

MilterSession::MilterSession(Server& server, Socket sock, conf::ListenerConfig listener,
                             ClientInfo peer)
    : PeerConnection(server, std::move(sock), peer.addr, metrics::listener(listener.name)),
      listener_(std::move(listener)),
      peer_(std::move(peer)),
      client_(peer_),
      framer_(m::kMinMaxPacket) {}

// XXX: no vptr check (see ~PeerConnection).
__attribute__((no_sanitize("vptr"))) MilterSession::~MilterSession() = default;

asio::awaitable<bool> MilterSession::fill() {
  const auto& smtp = rt_->config->smtp;
  char buf[16384];
  std::size_t n = co_await read_some(buf, sizeof buf, smtp.command_timeout,
                                     in_mail_ ? smtp.command_timeout : smtp.idle_timeout, !in_mail_);
  if (n == 0) co_return false;
  if (tcp_) {
    // The MTA sends the no-reply steps (each header, body chunks) as small
    // writes without waiting for us; behind its Nagle algorithm each one
    // waits for our ACK, which Linux delays up to 40 ms.  Quick ACKs (the
    // flag lapses, so it is set again after every read) avoid the stall.
    int one = 1;
    ::setsockopt(sock_.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
  }
  framer_.feed(std::string_view(buf, n));
  co_return true;
}

void MilterSession::continue_unless_no_reply(std::uint32_t nr_flag) {
  if (nr_flag && (neg_.protocol & nr_flag)) return;
  send(m::encode(m::kContinue));
}

void MilterSession::reset_message() {
  in_mail_ = false;
  eoh_ = false;
  header_seen_ = false;
  too_big_ = false;
  last_cr_ = false;
  // Not authenticated_ nor queue_id_: the MTA sends MAIL's macros before
  // MAIL itself (they are reset where they are set, and at the end).
  env_ = Envelope{};
  if (store_) store_->reset();
  io_ = Ok{};
  log_id_.clear();
}

void MilterSession::reset_connection() {
  reset_message();
  client_ = peer_;
  queue_id_.clear();
  authenticated_ = false;
}

asio::awaitable<void> MilterSession::run() {
  auto self = shared_from_this();
  tcp_ = open();
  rt_ = server_.runtime();
  framer_ = m::Framer(static_cast<std::uint32_t>(
      std::max<std::size_t>(m::kMinMaxPacket, rt_->config->smtp.max_header_size + 1024)));
  if (tcp_) {
    int one = 1;
    ::setsockopt(sock_.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
  }
  try {
    bool done = false;
    while (!done) {
      auto next = framer_.next();
      if (!next) {
        log::milter().warn("{}: {}; closing", peer_.addr, next.error().message);
        break;
      }
      if (!next.value()) {
        if (!co_await fill()) {
          if (timed_out())
            log::milter().info("{}: no command for {}s{}; closing", peer_.addr,
                               (in_mail_ ? rt_->config->smtp.command_timeout
                                         : rt_->config->smtp.idle_timeout)
                                   .count(),
                               in_mail_ ? " inside a message" : "");
          else if (in_mail_)
            log::milter().info("{}: MTA closed the connection inside a message", log_id_);
          break;
        }
        continue;
      }
      m::Packet p = *next.value();
      if (p.cmd == m::kBodyEob) {
        // Copy the final chunk: the framer's buffer may move while we wait.
        co_await end_of_message(std::string(p.data));
        continue;
      }
      if (handle(p) == Step::Close) done = true;
    }
  } catch (const std::exception& e) {
    // Programmer error: the MTA applies its milter_default_action.
    log::milter().error("{}: internal error: {}", log_id_.empty() ? peer_.addr : log_id_, e.what());
    out_.clear();
  }
  co_await close();
}

MilterSession::Step MilterSession::optneg(std::string_view d) {
  auto o = m::decode_optneg(d);
  if (!o) {
    log::milter().warn("{}: {}; closing", peer_.addr, o.error().message);
    return Step::Close;
  }
  const auto& t = o.value();
  if (t.version < 2) {
    log::milter().warn("{}: milter protocol version {} is not supported; closing", peer_.addr,
                       t.version);
    return Step::Close;
  }
  neg_.version = std::min(t.version, m::kVersion);
  neg_.actions = t.actions & kWantActions;
  // Version 2 MTAs know none of the version 6 flags.
  neg_.protocol = t.version >= 6 ? (t.protocol & kWantProtocol) : 0;
  negotiated_ = true;
  if (!(neg_.actions & m::kAddHdrs))
    log::milter().warn("{}: the MTA does not let us add header fields: signing and "
                       "Authentication-Results will tempfail",
                       peer_.addr);
  log::milter().debug("{}: negotiated version {} actions {:#x} protocol {:#x}", peer_.addr,
                      neg_.version, neg_.actions, neg_.protocol);
  // Only the macros we read, and none where we read none: Postfix sends a
  // MACRO packet before every header and body chunk otherwise (its
  // default end-of-header and end-of-data lists hold the queue id).
  std::vector<std::pair<std::uint32_t, std::string>> macros;
  if (neg_.version >= 6)
    macros = {{0, ""}, {1, ""}, {2, "i {auth_authen}"}, {3, ""}, {4, ""}, {6, ""}, {5, "i"}};
  send(m::encode_optneg(neg_, macros));
  return Step::Ok;
}

static std::string strip_brackets(std::string_view a) {
  while (!a.empty() && (a.front() == ' ')) a.remove_prefix(1);
  if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
  return std::string(a);
}

static Param to_param(std::string_view s) {
  Param p;
  auto eq = s.find('=');
  p.key = std::string(s.substr(0, eq));
  for (auto& c : p.key) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (eq != std::string_view::npos) {
    p.value = std::string(s.substr(eq + 1));
    p.has_value = true;
  }
  return p;
}

void MilterSession::on_mail(std::string_view d) {
  reset_message();
  if (server_.draining()) {
    // 451, not 421: a milter reply must be a plain 4xx/5xx.
    send(m::reply_code(451, "4.3.2", "Service shutting down, try again later"));
    return;
  }
  rt_ = server_.runtime();  // the configuration this message runs under
  auto args = m::split_strings(d);
  env_.sender = args.empty() ? std::string() : strip_brackets(args[0]);
  for (std::size_t i = 1; i < args.size(); ++i) {
    Param p = to_param(args[i]);
    if (p.key == "BODY") {
      std::string v = p.value;
      for (auto& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      env_.body_8bit = v == "8BITMIME";
    } else if (p.key == "SMTPUTF8") {
      env_.smtputf8 = true;
    } else if (p.key == "RET" || p.key == "ENVID") {
      env_.mail_params.push_back(std::move(p));
    }
  }
  // What the stages read from XFORWARD in the other modes (spam scanners'
  // client facts) comes from CONNECT and HELO here.
  env_.xforward.clear();
  if (client_.ip) env_.xforward.emplace_back("ADDR", xtext_encode(client_.addr));
  if (!client_.helo.empty()) env_.xforward.emplace_back("HELO", xtext_encode(client_.helo));
  in_mail_ = true;
  log_id_ = new_log_id();
  t_mail_ = Clock::now();
  send(m::encode(m::kContinue));
}

void MilterSession::on_rcpt(std::string_view d) {
  if (!in_mail_) {
    // A RCPT without MAIL (an MTA bug): nothing to attach it to.
    send(m::reply_code(503, "5.5.1", "Need MAIL before RCPT"));
    return;
  }
  if (env_.recipients.size() >= rt_->config->smtp.max_recipients) {
    send(m::reply_code(452, "4.5.3", "Too many recipients"));
    return;
  }
  auto args = m::split_strings(d);
  Recipient r;
  r.address = args.empty() ? std::string() : strip_brackets(args[0]);
  for (std::size_t i = 1; i < args.size(); ++i) {
    Param p = to_param(args[i]);
    if (p.key == "NOTIFY" || p.key == "ORCPT") r.params.push_back(std::move(p));
  }
  env_.recipients.push_back(std::move(r));
  send(m::encode(m::kContinue));
}

void MilterSession::append(std::string_view bytes) {
  if (too_big_ || !io_) return;
  if (!store_) {
    const auto& d = rt_->config->daemon;
    store_ = std::make_unique<MessageStore>(d.memory_threshold, d.spool_dir,
                                            rt_->config->smtp.max_header_size);
  }
  if (store_->size() + bytes.size() > rt_->config->smtp.max_message_size) {
    too_big_ = true;
    return;
  }
  io_ = store_->append(bytes);
}

// Body chunks are CRLF text from Postfix and sendmail; a bare LF (from an
// MTA that does not convert) becomes CRLF so the store holds the canonical
// form the stages expect.
void MilterSession::append_body(std::string_view chunk) {
  scratch_.clear();
  scratch_.reserve(chunk.size() + 16);
  for (char c : chunk) {
    if (c == '\n' && !last_cr_) scratch_.push_back('\r');
    scratch_.push_back(c);
    last_cr_ = c == '\r';
  }
  append(scratch_);
}

MilterSession::Step MilterSession::handle(const m::Packet& p) {
  if (!negotiated_ && p.cmd != m::kOptneg && p.cmd != m::kMacro) {
    // Every MTA negotiates first; without it we do not know what to answer.
    log::milter().warn("{}: command '{}' before option negotiation; closing", peer_.addr,
                       p.cmd >= 0x20 && p.cmd < 0x7f ? p.cmd : '?');
    return Step::Close;
  }
  switch (p.cmd) {
    case m::kOptneg: return optneg(p.data);
    case m::kMacro: {
      auto mac = m::decode_macros(p.data);
      if (!mac) return Step::Ok;  // an empty MACRO: nothing to learn, no reply due
      if (mac.value().for_cmd == m::kMail) authenticated_ = false;  // each MAIL says anew
      for (auto& [k, v] : mac.value().values) {
        if (k == "i" && !v.empty()) queue_id_ = v;
        else if (k == "auth_authen" && !v.empty()) authenticated_ = true;
      }
      return Step::Ok;
    }
    case m::kConnect: {
      reset_connection();
      auto c = m::decode_connect(p.data);
      if (!c) {
        log::milter().warn("{}: {}; closing", peer_.addr, c.error().message);
        return Step::Close;
      }
      const auto& ci = c.value();
      if (ci.family == '4' || ci.family == '6') {
        client_.addr = ci.address;
        client_.port = ci.port;
        client_.ip = conf::parse_ip(ci.address);
        if (!client_.ip) client_.addr = ci.hostname;
      } else {
        client_.addr = ci.family == 'L' ? "unix" : "unknown";
        client_.port = 0;
        client_.ip.reset();
      }
      continue_unless_no_reply(m::kNrConn);
      return Step::Ok;
    }
    case m::kHelo: {
      auto a = m::split_strings(p.data);
      client_.helo = a.empty() ? std::string() : std::string(a[0].substr(0, 255));
      continue_unless_no_reply(m::kNrHelo);
      return Step::Ok;
    }
    case m::kMail: on_mail(p.data); return Step::Ok;
    case m::kRcpt: on_rcpt(p.data); return Step::Ok;
    case m::kData: continue_unless_no_reply(m::kNrData); return Step::Ok;
    case m::kUnknown: continue_unless_no_reply(m::kNrUnkn); return Step::Ok;
    case m::kHeader: {
      auto h = m::decode_header(p.data);
      if (!h) {
        log::milter().warn("{}: {}; closing", log_id_.empty() ? peer_.addr : log_id_,
                           h.error().message);
        return Step::Close;
      }
      // "Name:" then the value exactly as sent (with HDR_LEADSPC it keeps
      // its leading white space; without, the MTA stripped one space, which
      // we put back), folded lines as CRLF.
      scratch_.assign(h.value().name);
      scratch_ += ':';
      if (!(neg_.protocol & m::kHdrLeadSpc)) scratch_ += ' ';
      bool cr = false;
      for (char c : h.value().value) {
        if (c == '\n' && !cr) scratch_.push_back('\r');
        scratch_.push_back(c);
        cr = c == '\r';
      }
      scratch_ += "\r\n";
      header_seen_ = true;
      append(scratch_);
      continue_unless_no_reply(m::kNrHdr);
      return Step::Ok;
    }
    case m::kEoh:
      if (!eoh_) append("\r\n");
      eoh_ = true;
      continue_unless_no_reply(m::kNrEoh);
      return Step::Ok;
    case m::kBody:
      if (!eoh_) {  // no EOH step (SMFIP_NOEOH on the MTA's side): the separator now
        append("\r\n");
        eoh_ = true;
      }
      append_body(p.data);
      continue_unless_no_reply(m::kNrBody);
      return Step::Ok;
    case m::kAbort:
      if (in_mail_ && !log_id_.empty())
        log::milter().debug("{}: the MTA aborted the message", log_id_);
      reset_message();
      queue_id_.clear();
      return Step::Ok;  // no reply to ABORT
    case m::kQuitNc:
      reset_connection();
      return Step::Ok;
    case m::kQuit: return Step::Close;
    default:
      log::milter().warn("{}: unknown milter command '{}' ({} bytes); closing", peer_.addr,
                         p.cmd >= 0x20 && p.cmd < 0x7f ? p.cmd : '?', p.data.size());
      return Step::Close;
  }
}

log::Summary MilterSession::summary() const {
  log::Summary s = log::start_summary(log_id_, client_, env_, store_ ? store_->size() : 0,
                                      store_ ? &store_->headers() : nullptr);
  log::set_queue_id(s, queue_id_);  // the MTA's macro i (XFORWARD is not spoken here)
  return s;
}

// Closes the message in the store; when it cannot be checked, sends the
// refusal and returns its reason for the summary (else empty).
std::string MilterSession::finish_message(std::string_view last_chunk) {
  if (!last_chunk.empty()) {
    if (!eoh_) {
      append("\r\n");
      eoh_ = true;
    }
    append_body(last_chunk);
  }
  if (!store_) append("");  // an empty message still needs a store
  if (io_ && store_) io_ = store_->finish();
  if (too_big_) {
    send(m::reply_code(552, "5.3.4", log_id_ + " Message size exceeds fixed limit"));
    return "message larger than smtp.max_message_size";
  }
  if (!store_ || !io_) {
    log::milter().error("{}: {}", log_id_, io_ ? "no store" : io_.error().message);
    send(m::reply_code(451, "4.3.0", log_id_ + " Local error storing the message, try again later"));
    return "spool error";
  }
  if (store_->headers().overflow()) {
    send(m::reply_code(552, "5.3.4", log_id_ + " Header section exceeds the size limit"));
    return "header section larger than smtp.max_header_size";
  }
  if (env_.recipients.empty()) {
    send(m::reply_code(554, "5.5.1", log_id_ + " No valid recipients"));
    return "no recipients";
  }
  return {};
}

// What this MTA lets us do (from the negotiation).
FrontAbilities MilterSession::abilities() const {
  FrontAbilities f;
  f.live = true;  // the sending client waits: reject, never bounce
  f.delete_recipients = neg_.actions & m::kDelRcptAct;
  f.add_headers = neg_.actions & m::kAddHdrs;
  f.change_headers = neg_.actions & m::kChgHdrs;
  f.hold = neg_.actions & m::kQuarantineAct;
  return f;
}

asio::awaitable<void> MilterSession::check(log::Summary& s) {
  auto rt = rt_;
  MessageContext ctx{log_id_, client_, env_, *store_};
  if (listener_.budget) ctx.budget_end = Clock::now() + *listener_.budget;
  CheckOptions opt;
  opt.bank = listener_.bank;
  if (authenticated_ && !listener_.auth_bank.empty()) opt.extra_banks.push_back(listener_.auth_bank);
  opt.front = abilities();
  opt.quarantine_by_hold = listener_.milter_hold;
  CheckResult c;
  co_await run_checks(*rt, opt, ctx, c);
  Outcome outcome(ctx, c, opt.front, rt->config->dsn);
  // The DSN for deleted recipients goes through [forward]: the milter
  // transaction cannot carry a second message.
  if (!outcome.bounces().empty())
    outcome.dsn_sent(co_await send_dsn(*rt->backend, ctx, outcome.bounces(), *rt->config,
                                       rt->config->smtp.hostname, log_id_ + "-dsn", answer_by_));
  Answer a = outcome.answer();
  send_answer(a, outcome, ctx);
  s.bank = c.policy->banks;
  s.action = a.action;
  s.backend = std::move(a.backend);
  s.stages = std::move(c.records);
  for (auto& n : ctx.notes) s.notes.push_back(std::move(n));
}

asio::awaitable<void> MilterSession::end_of_message(std::string last_chunk) {
  auto rt = rt_;
  if (!in_mail_) {
    // End of message without MAIL: nothing was collected; let the MTA go on.
    log::milter().warn("{}: end of message outside a transaction", peer_.addr);
    send(m::encode(m::kContinue));
    co_return;
  }
  answer_by_ = Clock::now() + listener_.peer_timeout - std::chrono::seconds(2);
  log::Summary s = summary();
  std::string refused = finish_message(last_chunk);
  if (refused.empty()) {
    co_await check(s);
  } else {
    s.action = log::SummaryAction::Refused;
    s.backend = refused;
  }
  log_summary(s);
}

void MilterSession::log_summary(log::Summary& s) {
  if (!queue_id_.empty()) log::set_queue_id(s, queue_id_);  // macro i at end of message
  s.size = store_ ? store_->size() : 0;
  s.time = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t_mail_);
  log::summary_logger().info("{}", log::format_summary(s, rt_->config->daemon.log_json));
  metrics::message(metrics_, s.bank, s.action, s.size);
  reset_message();
  queue_id_.clear();
}


// The answer as milter replies: the edits, the deleted recipients and the
// hold, then continue; or discard; or a reply code.
void MilterSession::send_answer(const Answer& a, const Outcome& outcome, const MessageContext& ctx) {
  switch (a.kind) {
    case Answer::Kind::Deliver: {
      if (!outcome.groups().empty()) {
        const HeaderEdits& e = outcome.groups().front().edits(ctx);
        if (!e.prepend.empty() || !e.remove.empty())
          send(edit_replies(e, ctx.message.headers(), neg_.protocol & m::kHdrLeadSpc));
      }
      for (auto i : outcome.deleted()) send(m::del_rcpt(env_.recipients[i].address));
      if (a.hold) send(m::quarantine(log_id_ + " " + *a.hold));
      send(m::encode(m::kContinue));
      return;
    }
    case Answer::Kind::Discard:
      send(m::encode(m::kDiscard));
      return;
    case Answer::Kind::Refuse:
      send(m::reply_code(a.reply.code, a.reply.enhanced,
                         a.reply.lines.empty() ? std::string() : a.reply.lines.front()));
      return;
  }
}

}  // namespace sigil::filter
