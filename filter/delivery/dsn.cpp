// filter/delivery/dsn.cpp — see dsn.hpp.
#include "filter/delivery/dsn.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>

#include "conf/ascii.hpp"
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

std::string status_of(const Finding* f) {
  // RFC 3463: 5.7.0 other security/policy; 5.7.1 delivery not authorized
  // (Amavis uses 5.7.0 for virus/banned and 5.7.1 for spam).
  if (!f) return "5.7.0";
  return f->category == conf::Category::Spam || f->category == conf::Category::Spammy ? "5.7.1"
                                                                                       : "5.7.0";
}

std::string reason_of(const Finding* f) {
  if (!f) return "rejected by the content filter";
  std::string r = std::string(conf::to_string(f->category)) + ": " + f->reason;
  for (auto& c : r)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return r;
}

}  // namespace

Dsn make_dsn(const MessageContext& ctx, const std::vector<DsnRecipient>& rcpts,
             const std::string& hostname, const conf::DsnConfig& cfg, long long now) {
  const std::string from = cfg.from.empty() ? "postmaster@" + hostname : cfg.from;
  const std::string boundary = "----=_sigil_dsn_" + ctx.log_id;
  Dsn d;
  std::string& m = d.message;
  m += "From: \"Content filter at " + hostname + "\" <" + from + ">\r\n";
  m += "To: <" + ctx.envelope.sender + ">\r\n";
  std::string what = rcpts.front().finding ? std::string(conf::to_string(rcpts.front().finding->category))
                                           : std::string("rejected");
  m += "Subject: Undelivered mail: " + what + " content\r\n";
  m += "Date: " + date(now) + "\r\n";
  m += "Message-ID: <dsn-" + ctx.log_id + "@" + hostname + ">\r\n";
  if (auto mid = unfolded_value(ctx.message.headers(), "Message-ID"); mid && mid->size() < 900)
    m += "In-Reply-To: " + *mid + "\r\n";
  m += "Auto-Submitted: auto-replied\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: multipart/report; report-type=delivery-status;\r\n boundary=\"" + boundary + "\"\r\n";
  m += "\r\n";
  m += "This is a delivery status notification (RFC 3464).\r\n\r\n";
  m += "--" + boundary + "\r\n";
  m += "Content-Type: text/plain; charset=us-ascii\r\n\r\n";
  m += "This message was created automatically by the mail content filter on\r\n" + hostname +
       ". The message from <" + ctx.envelope.sender + ">\r\nwas not delivered to:\r\n\r\n";
  for (auto& r : rcpts)
    m += "  <" + r.rcpt->address + ">: " + status_of(r.finding) + " " + reason_of(r.finding) + "\r\n";
  m += "\r\nIts log id is " + ctx.log_id + ". Its header section is attached.\r\n\r\n";
  m += "--" + boundary + "\r\n";
  m += "Content-Type: message/delivery-status\r\n\r\n";
  m += "Reporting-MTA: dns; " + hostname + "\r\n";
  if (const Param* e = find_param(ctx.envelope.mail_params, "ENVID"))
    m += "Original-Envelope-Id: " + from_xtext(e->value) + "\r\n";
  m += "Arrival-Date: " + date(now) + "\r\n";
  for (auto& r : rcpts) {
    m += "\r\n";
    if (const Param* o = find_param(r.rcpt->params, "ORCPT")) m += "Original-Recipient: " + from_xtext(o->value) + "\r\n";
    m += "Final-Recipient: rfc822; " + r.rcpt->address + "\r\n";
    m += "Action: failed\r\n";
    m += "Status: " + status_of(r.finding) + "\r\n";
    m += "Diagnostic-Code: smtp; 554 " + status_of(r.finding) + " " + reason_of(r.finding) + "\r\n";
  }
  m += "\r\n--" + boundary + "\r\n";
  m += "Content-Type: text/rfc822-headers\r\n\r\n";
  const std::string& hb = ctx.message.headers().block();
  m += hb;
  if (hb.size() < 2 || hb.compare(hb.size() - 2, 2, "\r\n") != 0) m += "\r\n";
  d.eight_bit = std::any_of(hb.begin(), hb.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
  m += "\r\n--" + boundary + "--\r\n";
  return d;
}

boost::asio::awaitable<Reply> send_dsn(Backend& backend, const MessageContext& ctx,
                                       const std::vector<DsnRecipient>& rcpts,
                                       const conf::Config& cfg, const std::string& hostname,
                                       std::string log_id,
                                       std::optional<std::chrono::steady_clock::time_point> deadline) {
  Dsn dsn = make_dsn(ctx, rcpts, hostname, cfg.dsn, static_cast<long long>(std::time(nullptr)));
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
  HeaderEdits none;
  DeliveryRequest req{env, store, none, log_id, false, deadline};
  DeliveryResult r = co_await backend.deliver(req);
  co_return r.rcpt.empty() ? r.decisive : r.rcpt.front();
}

}  // namespace sigil::filter
