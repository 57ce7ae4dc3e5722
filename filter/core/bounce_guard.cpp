// filter/core/bounce_guard.cpp — see bounce_guard.hpp.
#include "filter/core/bounce_guard.hpp"

#include "conf/ascii.hpp"
#include "filter/core/metrics.hpp"
#include "filter/core/smtp_text.hpp"

namespace sigil::filter {

namespace {

// A suppression: counted (each recipient is judged once), and its reason.
std::optional<std::string> suppressed(metrics::DsnSuppressed why, std::string text) {
  metrics::dsn_suppressed(why);
  return text;
}

}  // namespace

std::optional<std::string> bounce_suppressed(const MessageContext& ctx, const Finding* finding,
                                             const Recipient& rcpt, const conf::DsnConfig& cfg) {
  using M = metrics::DsnSuppressed;
  if (ctx.envelope.sender.empty()) return suppressed(M::NullSender, "null sender");
  if (finding && finding->category == conf::Category::Virus)
    return suppressed(M::Virus, "virus (senders are forged)");
  if (finding && (finding->category == conf::Category::Spam ||
                  finding->category == conf::Category::Spammy)) {
    if (!ctx.spam) return suppressed(M::Spam, "spam without a score");
    if (ctx.spam->value() >= cfg.spam_cutoff_level)
      return suppressed(M::Spam, "spam at or above spam_cutoff_level");
  }
  const HeaderIndex& h = ctx.message.headers();
  if (auto p = unfolded_value(h, "Precedence")) {
    std::string v = ascii::lower(*p);
    if (v == "bulk" || v == "list" || v == "junk") return suppressed(M::Precedence, "Precedence: " + v);
  }
  if (h.find("List-Id")) return suppressed(M::ListId, "mailing list (List-Id)");
  if (const Param* n = find_param(rcpt.params, "NOTIFY")) {
    std::string v = ascii::lower(n->value);
    if (v.find("failure") == std::string::npos) return suppressed(M::Notify, "NOTIFY=" + n->value);
  }
  return std::nullopt;
}

}  // namespace sigil::filter
