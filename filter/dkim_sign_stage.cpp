// filter/dkim_sign_stage.cpp — see dkim_sign_stage.hpp.
#include "filter/dkim_sign_stage.hpp"

#include <ctime>
#include <optional>

#include "dkim/signer.hpp"
#include "filter/smtp_command.hpp"

namespace sigil::filter {

namespace asio = boost::asio;

namespace {

std::string upper(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return o;
}

std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

// The value of a header field (after the colon), with its CRLF.
std::string_view field_value(std::string_view field) {
  auto colon = field.find(':');
  return colon == std::string_view::npos ? std::string_view() : field.substr(colon + 1);
}

bool name_is(std::string_view field, std::string_view name) {
  auto colon = field.find(':');
  if (colon == std::string_view::npos) return false;
  auto n = field.substr(0, colon);
  while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.remove_suffix(1);
  return n.size() == name.size() && lower(n) == lower(name);
}

// d= of a DKIM-Signature field, lower-cased ("" if none).
std::string signature_domain(std::string_view field) {
  auto v = field_value(field);
  std::size_t pos = 0;
  while (pos < v.size()) {
    auto semi = v.find(';', pos);
    auto tag = v.substr(pos, semi == std::string_view::npos ? v.size() - pos : semi - pos);
    std::string t;
    for (char c : tag)
      if (c != ' ' && c != '\t' && c != '\r' && c != '\n') t += c;
    if (t.size() > 2 && t[0] == 'd' && t[1] == '=') return lower(t.substr(2));
    if (semi == std::string_view::npos) break;
    pos = semi + 1;
  }
  return {};
}

}  // namespace

bool authenticated_proto(std::string_view proto) {
  auto p = upper(proto);
  return p == "ESMTPA" || p == "ESMTPSA" || p == "LMTPA" || p == "LMTPSA" || p == "UTF8SMTPA" ||
         p == "UTF8SMTPSA" || p == "UTF8LMTPA" || p == "UTF8LMTPSA";
}

DkimSignStage::DkimSignStage(std::shared_ptr<const keys::SigningTable> table)
    : table_(std::move(table)) {}

asio::awaitable<Verdict> DkimSignStage::run(MessageContext& ctx) { co_return sign(ctx); }

Verdict DkimSignStage::sign(MessageContext& ctx) const {
  auto note = [&](std::string v) { ctx.notes.emplace_back("dkim", std::move(v)); };

  bool originating = ctx.originating;
  if (!originating) {
    for (const auto& [k, v] : ctx.envelope.xforward)
      if (k == "PROTO" && authenticated_proto(xtext_decode(v).value_or(""))) originating = true;
  }
  if (!originating) {
    note("unsigned: not originating");
    return {};
  }

  // The header fields as the back-end will receive them.
  const auto& idx = ctx.message.headers();
  dkim::FieldList fields;
  for (const auto& f : ctx.edits.prepend) fields.push_back(f);
  for (const auto& f : idx.fields()) fields.push_back(idx.field(f));

  auto first_value = [&](std::string_view name) -> std::string_view {
    for (auto f : fields)
      if (name_is(f, name)) return field_value(f);
    return {};
  };
  std::string author = keys::parse_address(first_value("From"));
  std::string sender = keys::parse_address(first_value("Sender"));
  std::string which;
  const keys::SigningRuleView* rule =
      table_ ? table_->match(author, sender, ctx.envelope.sender, &which) : nullptr;
  if (!rule) {
    note("unsigned: no signing rule for author <" + author + "> sender <" + sender +
         "> envelope <" + ctx.envelope.sender + ">");
    return {};
  }

  // Body hashes, at most one per canonicalization, over the stored body.
  std::optional<std::string> bh_simple, bh_relaxed;
  std::string read_error;
  auto body_hash = [&](conf::Canon c) -> std::optional<std::string> {
    auto& slot = c == conf::Canon::Simple ? bh_simple : bh_relaxed;
    if (slot) return slot;
    dkim::BodyHasher h(c);
    std::uint64_t off = idx.body_offset();
    if (auto mem = ctx.message.in_memory(); !mem.empty() || ctx.message.size() == 0) {
      if (off < mem.size()) h.update(mem.substr(off));
    } else {
      char buf[64 * 1024];
      while (off < ctx.message.size()) {
        auto n = ctx.message.read(off, buf, sizeof buf);
        if (!n) {
          read_error = n.error().message;
          return std::nullopt;
        }
        if (*n == 0) break;
        h.update(std::string_view(buf, *n));
        off += *n;
      }
    }
    slot = h.finish();
    return slot;
  };

  std::vector<std::string> made, skipped, errors;
  std::vector<std::string> sig_fields;
  std::int64_t now = std::time(nullptr);
  for (const auto& s : rule->signatures) {
    if (!s.sign_if_signed) {
      bool present = false;
      for (auto f : fields)
        if (name_is(f, "DKIM-Signature") && signature_domain(f) == s.domain) present = true;
      if (present) {
        skipped.push_back("already signed by d=" + s.domain);
        continue;
      }
    }
    auto bh = body_hash(s.body_canon);
    if (!bh) {
      errors.push_back("spool read failed: " + read_error);
      continue;
    }
    dkim::SignatureSpec spec;
    spec.key = s.key;
    spec.domain = s.domain;
    spec.selector = s.selector;
    spec.header_canon = s.header_canon;
    spec.body_canon = s.body_canon;
    spec.headers = s.headers;
    spec.oversign = s.oversign;
    spec.identity = s.identity;
    spec.timestamp = now;
    spec.expire_after = s.expire.count();
    auto field = dkim::sign(spec, fields, *bh);
    if (!field) {
      errors.push_back(field.error().message + " (key " + s.key_name + ")");
      continue;
    }
    sig_fields.push_back(std::move(*field));
    made.push_back("d=" + s.domain + " s=" + s.selector + " a=" +
                   dkim::algorithm(s.key->type()));
  }
  if (!errors.empty()) {
    std::string why = "unsigned: " + errors.front();
    note(why);
    if (on_error == OnError::Continue) {
      // Sign with what worked.
    } else {
      return {on_error == OnError::Reject ? Action::Reject : Action::TempFail,
              "DKIM signing failed: " + errors.front()};
    }
  }
  if (made.empty()) {
    if (errors.empty()) note("unsigned: " + (skipped.empty() ? "no signature" : skipped.front()));
    return {};
  }
  std::string v = "signed (" + which + " rule " + rule->pattern + ")";
  for (const auto& m : made) v += "; " + m;
  for (const auto& m : skipped) v += "; " + m;
  note(v);
  ctx.edits.prepend.insert(ctx.edits.prepend.begin(), sig_fields.begin(), sig_fields.end());
  return {};
}

}  // namespace sigil::filter
