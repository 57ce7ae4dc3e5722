// filter/spam_stage.hpp — the `spam` stage (Inspect phase): spam scoring with
// SpamAssassin's spamd over the SPAMC/1.5 protocol, with Amavis's levels.
//
// For each message:
//   1. foreign X-Spam-Flag, X-Spam-Score, X-Spam-Level and X-Spam-Status
//      fields are removed (Amavis's $remove_existing_spam_headers), whatever
//      happens next, so nobody upstream can forge our verdict;
//   2. a message larger than [spam] max_size is not scanned: note
//      spam="skipped: too large (N > max_size)", no score, no finding;
//   3. the scanners of [spam] are tried in order; one that cannot be
//      reached, exceeds its timeout (connect + send + spamd's check, one asio
//      timer) or answers anything but a well-formed "SPAMD/1.x 0 EX_OK" counts
//      as failed, and the next one is tried;
//   4. the score is spamd's plus the policy's spam_score_offset, compared
//      with the policy's levels (conf::SpamLevels, from the banks):
//        >= tag_level   X-Spam-Flag (NO), X-Spam-Score, X-Spam-Level and
//                       X-Spam-Status are prepended (default -999: always);
//        >= tag2_level  X-Spam-Flag: YES, the subject tag is prepended to
//                       Subject (the field is removed and written anew),
//                       finding `spammy`;
//        >= kill_level  finding `spam` (whatever tag2): the destiny for spam
//                       decides (default pass);
//      the note says spam="score=6.1 tests=GTUBE,... (scanner local)";
//   5. when every scanner failed, the note says spam="spamd unavailable: ..."
//      and [spam] on_error decides: continue (no score, as Amavis passes mail
//      when spamd is down) or tempfail (451).
// spamd's own required_score and Spam: True/False are not used: the levels
// decide.  The message goes to spamd as stored (CRLF line ends), streamed
// from the MessageStore in 64 KiB chunks; a spooled message is never loaded
// into memory.
//
// Protocol (spamd(8), spamc(1); Mail::SpamAssassin's spamd source): the
// client sends "REPORT SPAMC/1.5\r\nContent-length: N\r\nUser: sigil\r\n\r\n"
// and the N bytes of the message; spamd answers
// "SPAMD/1.1 0 EX_OK\r\nContent-length: M\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n"
// and M bytes (the report, or for SYMBOLS "GTUBE,NO_RELAYS"), then closes.
// An error is "SPAMD/1.0 <code> <text>" with a non-zero EX_* code.  REPORT's
// table (" pts rule name  description") gives each test's score; a report
// template that has no such table leaves the test list empty (use SYMBOLS).
//
// Header fields (Amavis's format, its older tag/tag2/kill form):
//   X-Spam-Flag: YES
//   X-Spam-Score: 1000
//   X-Spam-Level: ****************************************************************
//   X-Spam-Status: Yes, score=1000 tag=-999 tag2=6.2 kill=6.9 tests=[GTUBE=1000,
//    NO_RECEIVED=-0.0, NO_RELAYS=-0.0]
// (folded before a space near 78 columns; "autolearn=" is left out: spamd
// does not tell it.)
//
// Does not: rspamd, learning (TELL), per-recipient levels (SpamLevels is the
// unit a recipient will get), SpamAssassin's own header rewriting (PROCESS),
// pass the envelope to spamd (no Return-Path/X-Envelope fields are added),
// or resolve host names.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "conf/config.hpp"
#include "filter/pipeline.hpp"

namespace sigil::filter {

// spamd's answer to one check.
struct SpamdReply {
  double score = 0;      // spamd's score (before the bank's offset)
  double threshold = 0;  // spamd's required_score (informational)
  bool is_spam = false;  // spamd's own verdict (informational)
  // The tests hit: name and score as spamd wrote it ("1000", "-0.0"); the
  // score is empty with SYMBOLS.  Sorted by name.
  std::vector<std::pair<std::string, std::string>> tests;
};

// Parses a complete reply (up to the connection's end).  Failure (Protocol):
// no "SPAMD/1.x" status line, a non-zero EX_ code (the text says which), no
// or a malformed Spam: header, a Content-length that does not match.
Result<SpamdReply> parse_spamd_reply(std::string_view reply, conf::SpamConfig::Command cmd);

// A score as Amavis writes it: at most three decimals, trailing zeros and a
// negative zero dropped ("6.1", "1000", "-2.5", "0").
std::string format_spam_score(double score);

// The X-Spam-* fields (each ending in CRLF, in order) for `score` (offset
// already added) under `levels`; empty below tag_level.
std::vector<std::string> spam_header_fields(double score, const conf::SpamLevels& levels,
                                            const SpamdReply& reply);

class SpamStage : public Stage {
 public:
  explicit SpamStage(conf::SpamConfig cfg);
  std::string_view name() const override { return "spam"; }
  Phase phase() const override { return Phase::Inspect; }
  boost::asio::awaitable<Verdict> run(MessageContext& ctx) override;

 private:
  // One scanner, bounded by its timeout.  Failure: Io (connect, send,
  // receive, spool read), Timeout, Protocol (see parse_spamd_reply).
  boost::asio::awaitable<Result<SpamdReply>> scan(const conf::SpamScanner& s,
                                                  const MessageStore& msg) const;
  conf::SpamConfig cfg_;
};

}  // namespace sigil::filter
