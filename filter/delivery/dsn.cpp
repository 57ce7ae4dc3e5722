// filter/delivery/dsn.cpp — see dsn.hpp.
#include "filter/delivery/dsn.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>

#include "conf/ascii.hpp"
#include "filter/core/log.hpp"
#include "filter/core/metrics.hpp"
#include "filter/delivery/backend.hpp"

namespace sigil::filter {

namespace {

std::string date(long long t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

// xtext (RFC 3461 §4) decoded, one printable line (a bad xtext is kept as sent).
std::string from_xtext(const std::string& s) {
  std::string o = xtext_decode(s).value_or(s);
  for (auto& c : o)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return o;
}

// One printable line of at most 900 bytes: controls become '?', and bytes
// >= 0x80 too unless the DSN is SMTPUTF8 (RFC 6533 allows UTF-8 in
// message/global-delivery-status).
std::string one_line(std::string s, bool utf8) {
  for (auto& c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || (u >= 0x80 && !utf8)) c = '?';
  }
  if (s.size() > 900) {  // cut before a whole UTF-8 character
    std::size_t n = 900;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    s.resize(n);
  }
  return s;
}

// The enhanced status code (RFC 3463) of the recipient's failure: the
// back-end's own for its refusals (5.0.0 when it gave none); for Sigil's,
// 5.7.0 other security/policy, 5.7.1 delivery not authorized (Amavis uses
// 5.7.0 for virus/banned and 5.7.1 for spam).
std::string status_of(const DsnRecipient& r) {
  if (r.refusal) {
    const std::string& e = r.refusal->enhanced;
    return e.size() >= 5 && e[0] == '5' && e[1] == '.' ? e : std::string("5.0.0");
  }
  const Finding* f = r.finding;
  if (!f) return "5.7.0";
  return f->category == conf::Category::Spam || f->category == conf::Category::Spammy ? "5.7.1"
                                                                                       : "5.7.0";
}

// What the recipient's failure was, for the text part and Diagnostic-Code.
std::string reason_of(const DsnRecipient& r, bool utf8) {
  if (r.refusal) return one_line("refused by the next hop: " + r.refusal->summary(), utf8);
  const Finding* f = r.finding;
  if (!f) return "rejected by the content filter";
  return one_line(std::string(conf::to_string(f->category)) + ": " + f->reason, utf8);
}

// Diagnostic-Code (RFC 3464 §2.3.6): the back-end's reply as it gave it, or
// the refusal Sigil would have given.
std::string diagnostic_of(const DsnRecipient& r, bool utf8) {
  if (r.refusal) return "smtp; " + one_line(r.refusal->summary(), utf8);
  return "smtp; 554 " + status_of(r) + " " + reason_of(r, utf8);
}

// An address as a DSN field value: "rfc822; a@b", or "utf-8; ..." for a
// UTF-8 address in a global DSN (RFC 6533 §3).
std::string address_field(const std::string& a, bool utf8) {
  return (utf8 && !ascii::is_ascii(a) ? "utf-8; " : "rfc822; ") + a;
}

void header_section(std::string& m, const MessageContext& ctx,
                    const std::vector<DsnRecipient>& rcpts, const std::string& hostname,
                    const conf::DsnConfig& cfg, long long now, const std::string& boundary) {
  const std::string from = cfg.from.empty() ? "postmaster@" + hostname : cfg.from;
  m += "From: \"Content filter at " + hostname + "\" <" + from + ">\r\n";
  m += "To: <" + ctx.envelope.sender + ">\r\n";
  const DsnRecipient& first = rcpts.front();
  std::string what = first.refusal  ? std::string("refused by the next hop")
                     : first.finding ? std::string(conf::to_string(first.finding->category)) + " content"
                                     : std::string("rejected content");
  m += "Subject: Undelivered mail: " + what + "\r\n";
  m += "Date: " + date(now) + "\r\n";
  m += "Message-ID: <dsn-" + ctx.log_id + "@" + hostname + ">\r\n";
  if (auto mid = unfolded_value(ctx.message.headers(), "Message-ID"); mid && mid->size() < 900)
    m += "In-Reply-To: " + *mid + "\r\n";
  m += "Auto-Submitted: auto-replied\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: multipart/report; report-type=delivery-status;\r\n boundary=\"" + boundary + "\"\r\n";
  m += "\r\n";
  m += "This is a delivery status notification (RFC 3464).\r\n\r\n";
}

void status_part(std::string& m, const MessageContext& ctx, const std::vector<DsnRecipient>& rcpts,
                 const std::string& hostname, std::string_view remote_mta, long long now) {
  const bool utf8 = ctx.envelope.smtputf8;
  m += utf8 ? "Content-Type: message/global-delivery-status\r\n\r\n"
            : "Content-Type: message/delivery-status\r\n\r\n";
  m += "Reporting-MTA: dns; " + hostname + "\r\n";
  if (const Param* e = find_param(ctx.envelope.mail_params, "ENVID"))
    m += "Original-Envelope-Id: " + from_xtext(e->value) + "\r\n";
  m += "Arrival-Date: " + date(now) + "\r\n";
  for (auto& r : rcpts) {
    m += "\r\n";
    if (const Param* o = find_param(r.rcpt->params, "ORCPT")) m += "Original-Recipient: " + from_xtext(o->value) + "\r\n";
    m += "Final-Recipient: " + address_field(r.rcpt->address, utf8) + "\r\n";
    m += "Action: failed\r\n";
    m += "Status: " + status_of(r) + "\r\n";
    if (r.refusal && !remote_mta.empty()) m += "Remote-MTA: " + std::string(remote_mta) + "\r\n";
    m += "Diagnostic-Code: " + diagnostic_of(r, utf8) + "\r\n";
  }
}

}  // namespace

Dsn make_dsn(const MessageContext& ctx, const std::vector<DsnRecipient>& rcpts,
             const std::string& hostname, const conf::DsnConfig& cfg, long long now,
             std::string_view remote_mta) {
  const bool utf8 = ctx.envelope.smtputf8;
  const std::string boundary = "----=_sigil_dsn_" + ctx.log_id;
  Dsn d;
  std::string& m = d.message;
  header_section(m, ctx, rcpts, hostname, cfg, now, boundary);
  m += "--" + boundary + "\r\n";
  m += std::string("Content-Type: text/plain; charset=") + (utf8 ? "utf-8" : "us-ascii") + "\r\n\r\n";
  m += "This message was created automatically by the mail content filter on\r\n" + hostname +
       ". The message from <" + ctx.envelope.sender + ">\r\nwas not delivered to:\r\n\r\n";
  for (auto& r : rcpts)
    m += "  <" + r.rcpt->address + ">: " + status_of(r) + " " + reason_of(r, utf8) + "\r\n";
  m += "\r\nIts log id is " + ctx.log_id + ". Its header section is attached.\r\n\r\n";
  m += "--" + boundary + "\r\n";
  status_part(m, ctx, rcpts, hostname, remote_mta, now);
  m += "\r\n--" + boundary + "\r\n";
  m += utf8 ? "Content-Type: message/global-headers\r\n\r\n" : "Content-Type: text/rfc822-headers\r\n\r\n";
  const std::string& hb = ctx.message.headers().block();
  m += hb;
  if (hb.size() < 2 || hb.compare(hb.size() - 2, 2, "\r\n") != 0) m += "\r\n";
  d.eight_bit = !ascii::is_ascii(m);
  m += "\r\n--" + boundary + "--\r\n";
  return d;
}

// Remote-MTA (RFC 3464 §2.3.5) for the back-end's refusals: the [forward]
// target, the back-end that refused.
static std::string remote_mta_of(const conf::ForwardTarget& t) {
  if (t.kind == conf::ForwardTarget::Kind::LmtpUnix) return "x-unix; " + t.path;
  if (t.kind == conf::ForwardTarget::Kind::Maildir) return {};
  return "dns; " + t.host;
}

boost::asio::awaitable<Reply> send_dsn(Backend& backend, const MessageContext& ctx,
                                       const std::vector<DsnRecipient>& rcpts,
                                       const conf::Config& cfg, const std::string& hostname,
                                       std::string log_id,
                                       std::optional<std::chrono::steady_clock::time_point> deadline) {
  Dsn dsn = make_dsn(ctx, rcpts, hostname, cfg.dsn, static_cast<long long>(std::time(nullptr)),
                     remote_mta_of(cfg.forward.target));
  MessageStore store(cfg.daemon.memory_threshold, cfg.daemon.spool_dir, cfg.smtp.max_header_size);
  Status st = store.append(dsn.message);
  if (st) st = store.finish();
  if (!st) {
    Reply err;
    err.code = 451;
    err.enhanced = "4.3.0";
    err.lines.push_back("cannot store the DSN: " + st.error().message);
    co_return err;
  }
  Envelope env;
  env.recipients.push_back(Recipient{ctx.envelope.sender, {}});
  env.body_8bit = dsn.eight_bit;
  env.smtputf8 = ctx.envelope.smtputf8;  // MAIL FROM:<> SMTPUTF8 (RFC 6533 §3)
  HeaderEdits none;
  DeliveryRequest req{env, store, none, log_id, false, deadline};
  DeliveryResult r = co_await backend.deliver(req);
  Reply rep = r.rcpt.empty() ? r.decisive : r.rcpt.front();
  metrics::dsn(rep.positive()    ? metrics::DsnResult::Sent
               : rep.temporary() ? metrics::DsnResult::TempFail
                                 : metrics::DsnResult::Refused);
  if (env.smtputf8 && rep.enhanced == "5.6.7")
    log::backend().warn("{}: the DSN to <{}> needs SMTPUTF8 (the message came with it), "
                        "which the [forward] back-end does not offer: {}",
                        log_id, ctx.envelope.sender, rep.summary());
  co_return rep;
}

}  // namespace sigil::filter
