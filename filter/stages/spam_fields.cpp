// filter/stages/spam_fields.cpp — what a spam score becomes: the X-Spam-*
// fields and the subject tag a local recipient gets, and the finding (spam
// at kill_level, spammy at tag2_level), under the policy's levels or a
// recipient's own (SpamResult, the ScanScore the core asks again).
//
// Implements the fields as Amavis writes them, folded as RFC 5322 §2.2.3
// allows.
// Does not: talk to a scanner (spam_stage.cpp), or parse a reply
// (spam_protocol.cpp).
#include "filter/stages/spam_stage.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/ascii.hpp"

namespace sigil::filter {

namespace {

// Folds a field before a space so that lines stay near 78 characters
// (RFC 5322 §2.2.3: unfolding removes only the CRLF, the space stays).
std::string fold(std::string_view field) {
  std::string out;
  std::size_t line = 0;
  std::size_t pos = 0;
  while (pos < field.size()) {
    auto sp = field.find(' ', pos + 1);
    auto end = sp == std::string_view::npos ? field.size() : sp;
    auto word = field.substr(pos, end - pos);  // starts with its space, but the first
    if (line > 0 && line + word.size() > 78 && word.front() == ' ') {
      out += "\r\n";
      line = 0;
    }
    out += word;
    line += word.size();
    pos = end;
  }
  return out + "\r\n";
}

}  // namespace

std::string format_spam_score(double score) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", score);
  std::string s(buf);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  if (s == "-0") s = "0";
  return s;
}

std::vector<std::string> spam_header_fields(double score, const conf::SpamLevels& lv,
                                            const SpamReply& reply) {
  std::vector<std::string> out;
  if (score < lv.tag_level) return out;
  bool spammy = score >= lv.tag2_level;
  std::string s = format_spam_score(score);
  out.push_back(std::string("X-Spam-Flag: ") + (spammy ? "YES" : "NO") + "\r\n");
  out.push_back("X-Spam-Score: " + s + "\r\n");
  // One star per whole point, at most 64 (Amavis's $sa_spam_level_char).
  std::size_t stars = score >= 1 ? static_cast<std::size_t>(std::min(64.0, std::floor(score))) : 0;
  out.push_back(stars ? "X-Spam-Level: " + std::string(stars, '*') + "\r\n"
                      : std::string("X-Spam-Level:\r\n"));
  std::string tests;
  for (const auto& [name, pts] : reply.tests) {
    if (!tests.empty()) tests += ", ";
    tests += name;
    if (!pts.empty()) tests += "=" + pts;
  }
  out.push_back(fold(std::string("X-Spam-Status: ") + (spammy ? "Yes" : "No") + ", score=" + s +
                     " tag=" + format_spam_score(lv.tag_level) +
                     " tag2=" + format_spam_score(lv.tag2_level) +
                     " kill=" + format_spam_score(lv.kill_level) + " tests=[" + tests + "]"));
  return out;
}

HeaderEdits spam_local_edits(const SpamResult& r, const conf::SpamLevels& lv, const HeaderIndex& idx) {
  HeaderEdits e;
  for (auto& f : spam_header_fields(r.score, lv, r.reply)) e.prepend.push_back(std::move(f));
  if (r.score >= lv.tag2_level && !lv.subject_tag.empty()) {
    // The tag replaces the field: removed, then written anew on top with the
    // original value (folding and all) after the tag.
    if (r.subject) {
      auto f = idx.field(idx.fields()[*r.subject]);
      auto value = f.substr(f.find(':') + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      e.remove.push_back(*r.subject);
      std::string nf = "Subject: " + lv.subject_tag + std::string(value);
      if (!nf.ends_with("\r\n")) nf += "\r\n";
      e.prepend.push_back(std::move(nf));
    } else {
      e.prepend.push_back("Subject: " + std::string(ascii::trim(lv.subject_tag)) + "\r\n");
    }
  }
  return e;
}

std::optional<Finding> SpamResult::finding(const conf::SpamLevels& lv) const {
  return spam_finding(score, lv);
}

HeaderEdits SpamResult::local_edits(const conf::SpamLevels& lv, const HeaderIndex& headers) const {
  return spam_local_edits(*this, lv, headers);
}

std::optional<Finding> spam_finding(double score, const conf::SpamLevels& lv) {
  // Each level on its own (Amavis): kill below tag2 still makes spam.
  std::string sc = format_spam_score(score);
  if (score >= lv.kill_level)
    return Finding{conf::Category::Spam, "score " + sc + " >= kill " + format_spam_score(lv.kill_level), "spam"};
  if (score >= lv.tag2_level)
    return Finding{conf::Category::Spammy, "score " + sc + " >= tag2 " + format_spam_score(lv.tag2_level), "spam"};
  return std::nullopt;
}

}  // namespace sigil::filter
