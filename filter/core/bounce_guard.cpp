// filter/core/bounce_guard.cpp — see bounce_guard.hpp.
#include "filter/core/bounce_guard.hpp"

#include "conf/ascii.hpp"
#include "filter/core/smtp_text.hpp"

namespace sigil::filter {

std::optional<std::string> bounce_suppressed(const MessageContext& ctx, const Finding* finding,
                                             const Recipient& rcpt, const conf::DsnConfig& cfg) {
  if (ctx.envelope.sender.empty()) return "null sender";
  if (finding && finding->category == conf::Category::Virus) return "virus (senders are forged)";
  if (finding && (finding->category == conf::Category::Spam ||
                  finding->category == conf::Category::Spammy)) {
    if (!ctx.spam) return "spam without a score";
    if (ctx.spam->value() >= cfg.spam_cutoff_level) return "spam at or above spam_cutoff_level";
  }
  const HeaderIndex& h = ctx.message.headers();
  if (auto p = unfolded_value(h, "Precedence")) {
    std::string v = ascii::lower(*p);
    if (v == "bulk" || v == "list" || v == "junk") return "Precedence: " + v;
  }
  if (h.find("List-Id")) return "mailing list (List-Id)";
  if (const Param* n = find_param(rcpt.params, "NOTIFY")) {
    std::string v = ascii::lower(n->value);
    if (v.find("failure") == std::string::npos) return "NOTIFY=" + n->value;
  }
  return std::nullopt;
}

}  // namespace sigil::filter
