// filter/stages/spam_stage.hpp — the `spam` stage (Inspect phase): spam scoring with
// SpamAssassin's spamd (SPAMC/1.5) or rspamd (HTTP, POST /checkv2), with
// Amavis's levels.
//
// For each message:
//   1. foreign X-Spam-Flag, X-Spam-Score, X-Spam-Level and X-Spam-Status
//      fields are removed (Amavis's $remove_existing_spam_headers), whatever
//      happens next, so nobody upstream can forge our verdict;
//   2. a message larger than [spam] max_size is not scanned: note
//      spam="skipped: too large (N > max_size)", no score, no finding;
//   3. the scanners of [spam] are tried in order, whatever their kind; one
//      that cannot be reached, exceeds its timeout (connect + send + the
//      check, one asio timer) or answers anything but a well-formed success
//      (spamd: "SPAMD/1.x 0 EX_OK"; rspamd: HTTP 200 with the checkv2 JSON)
//      counts as failed, and the next one is tried;
//   4. the score is the scanner's plus the policy's spam_score_offset,
//      compared with the policy's levels (conf::SpamLevels, from the banks):
//        >= tag_level   X-Spam-Flag (NO), X-Spam-Score, X-Spam-Level and
//                       X-Spam-Status are prepended (default -999: always);
//        >= tag2_level  X-Spam-Flag: YES, the subject tag is prepended to
//                       Subject (the field is removed and written anew),
//                       finding `spammy`;
//        >= kill_level  finding `spam` (whatever tag2): the destiny for spam
//                       decides (default pass);
//      the note says spam="score=6.1 tests=GTUBE,... (scanner local)";
//   5. when every scanner failed, the note says spam="spamd unavailable: ..."
//      ("rspamd unavailable", "spamd/rspamd unavailable" by the kinds
//      configured) and [spam] on_error decides: continue (no score, as Amavis
//      passes mail when spamd is down) or tempfail (451).
// The scanner's own verdict (spamd's Spam: True/False and required_score,
// rspamd's action) is not used: the levels decide — with one exception
// below for rspamd's forced "reject".  The message goes to the scanner as
// stored (CRLF line ends), streamed from the MessageStore in 64 KiB chunks;
// a spooled message is never loaded into memory.
//
// spamd (spamd(8), spamc(1); Mail::SpamAssassin's spamd source): the client
// sends "REPORT SPAMC/1.5\r\nContent-length: N\r\nUser: sigil\r\n\r\n"
// and the N bytes of the message; spamd answers
// "SPAMD/1.1 0 EX_OK\r\nContent-length: M\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n"
// and M bytes (the report, or for SYMBOLS "GTUBE,NO_RELAYS"), then closes.
// An error is "SPAMD/1.0 <code> <text>" with a non-zero EX_* code.  REPORT's
// table (" pts rule name  description") gives each test's score; a report
// template that has no such table leaves the test list empty (use SYMBOLS).
//
// rspamd (rspamd's protocol documentation, "checkv2"): the client sends
//   POST /checkv2 HTTP/1.0
//   Content-Length: N
//   IP: 192.0.2.7                 the client (XFORWARD ADDR when given; not
//                                 sent for a Unix-socket client)
//   Helo: mx.example.org          the client's HELO/EHLO (XFORWARD HELO)
//   Hostname: mx.example.org      XFORWARD NAME, when given and known
//   From: <sender@example.org>    the envelope sender ("<>" for bounces)
//   Rcpt: <rcpt@example.net>      one per envelope recipient
//   Queue-Id: 0123456789AB        sigild's log id (rspamd logs it as qid)
// and the N bytes of the message; rspamd answers "HTTP/1.1 200 OK" with a
// Content-Length and a JSON object:
//   {"score": 3.5, "required_score": 15.0, "action": "no action",
//    "symbols": {"MIME_GOOD": {"name": "MIME_GOOD", "score": -0.1, ...}, ...}}
// Any other status (rspamd answers errors as e.g. 500 {"error": "..."}),
// chunked or compressed bodies (never asked for), a body that is not such an
// object (score a number, action a string, symbols an object of objects)
// makes the scanner failed.  The tests are the symbols with their scores
// ("MIME_GOOD=-0.1"), as Amavis writes SpamAssassin's; a symbol name outside
// [A-Za-z0-9_.-] is left out.  No User header is sent (rspamd takes it for an
// authenticated sender), nor a password (the normal worker needs none).
//
// GTUBE and rspamd's forced actions: rspamd (3.4) honours GTUBE only with
// options { enable_test_patterns = true; }, and then answers a "pre-result":
// action "reject", the GTUBE symbol with score 0, and the score set to the
// reject threshold (rspamd 3.4: score 15, required_score 15).  The same kind
// of forced action comes from force_actions rules and other pre-results.  So
// that a forced reject can never slip under the levels, Sigil takes the score
// as given, except that an action "reject" with a score below required_score
// raises it to required_score (the note says "rspamd action reject: score S
// raised to required_score R").  Thus GTUBE is 15 with rspamd (>= kill 6.9:
// spam), not 1000 as with spamd.  rspamd's other actions ("add header",
// "rewrite subject", "greylist", "soft reject") change nothing: its score
// already reflects them, and the levels decide.
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
// Implements: spamd's SPAMC/1.5 protocol, and rspamd's checkv2 over HTTP/1.0
// (RFC 1945: one request per connection); our fields are folded as RFC 5322
// §2.2.3 allows.
//
// Does not: learning (TELL, rspamd's learnspam), a second scan for
// recipients with levels of their own (they judge this scan's score again,
// through ScanScore in core/pipeline.hpp), SpamAssassin's own header
// rewriting (PROCESS) or rspamd's milter block (add/remove headers), pass
// the envelope to spamd (no Return-Path/X-Envelope fields are added), rspamd
// passwords or HTTPS, or resolve host names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "conf/config.hpp"
#include "filter/core/envelope.hpp"
#include "filter/core/pipeline.hpp"

namespace sigil::filter {

// A scanner's answer to one check, spamd's or rspamd's.
struct SpamReply {
  double score = 0;      // the scanner's score (before the bank's offset)
  double threshold = 0;  // spamd's or rspamd's required_score (informational)
  bool is_spam = false;  // the scanner's own verdict (informational)
  // rspamd only: its action ("no action", "add header", "reject", ...).
  std::string action;
  // rspamd only: the score it gave, when a forced "reject" came with a score
  // below required_score and `score` was raised to required_score.
  std::optional<double> forced_from;
  // The tests hit: name and score as spamd wrote it ("1000", "-0.0"), or
  // rspamd's symbol score formatted (format_spam_score); the score is empty
  // with spamd's SYMBOLS.  Sorted by name.
  std::vector<std::pair<std::string, std::string>> tests;
};

// Parses a complete spamd reply (up to the connection's end).  Failure
// (Protocol): no "SPAMD/1.x" status line, a non-zero EX_ code (the text says
// which), no or a malformed Spam: header, a Content-length that does not
// match.
Result<SpamReply> parse_spamd_reply(std::string_view reply, conf::SpamConfig::Command cmd);

// Parses a complete rspamd HTTP reply to /checkv2 (status line, headers,
// body).  Failure (Protocol): not HTTP/1.x, a status other than 200 (with
// rspamd's "error" text when the body has one), Transfer-Encoding or
// Content-Encoding, a Content-Length that does not match the body, a body
// that is not the checkv2 JSON object (see above).
Result<SpamReply> parse_rspamd_reply(std::string_view reply);

// The request head for rspamd (everything up to and including the empty
// line): POST /checkv2, Content-Length `size`, then IP, Helo, Hostname,
// From, Rcpt... and Queue-Id from the transaction.  Control characters in
// values become '?'.
std::string rspamd_request_head(const ClientInfo& client, const Envelope& env,
                                std::string_view log_id, std::uint64_t size);

// A score as Amavis writes it: at most three decimals, trailing zeros and a
// negative zero dropped ("6.1", "1000", "-2.5", "0").
std::string format_spam_score(double score);

// The X-Spam-* fields (each ending in CRLF, in order) for `score` (offset
// already added) under `levels`; empty below tag_level.
std::vector<std::string> spam_header_fields(double score, const conf::SpamLevels& levels,
                                            const SpamReply& reply);

// What the stage found, kept in MessageContext::spam so that recipients
// with levels of their own ([[recipient]] spam_*_level) get their own
// fields and category from the same scan.
struct SpamResult : ScanScore {
  SpamResult(double s, SpamReply r, std::optional<std::size_t> subj)
      : score(s), reply(std::move(r)), subject(subj) {}
  double score = 0;                     // the scanner's score plus the bank's offset
  SpamReply reply;                      // for the X-Spam-Status test list
  std::optional<std::size_t> subject;   // index of the Subject field to tag, if any

  double value() const override { return score; }
  std::string_view stage() const override { return "spam"; }
  std::optional<Finding> finding(const conf::SpamLevels& lv) const override;
  HeaderEdits local_edits(const conf::SpamLevels& lv, const HeaderIndex& headers) const override;
};

// The fields a local recipient with levels `lv` gets: X-Spam-* at or above
// tag_level, the subject tag at or above tag2_level.
HeaderEdits spam_local_edits(const SpamResult& r, const conf::SpamLevels& lv, const HeaderIndex& idx);
// The finding for `score` under `lv`: spam (>= kill), spammy (>= tag2) or none.
std::optional<Finding> spam_finding(double score, const conf::SpamLevels& lv);

class SpamStage : public Stage {
 public:
  explicit SpamStage(conf::SpamConfig cfg);
  std::string_view name() const override { return "spam"; }
  Phase phase() const override { return Phase::Inspect; }
  boost::asio::awaitable<Verdict> run(MessageContext& ctx) override;

 private:
  // One scanner, bounded by its timeout.  Failure: Io (connect, send,
  // receive, spool read), Timeout, Protocol (see parse_spamd_reply and
  // parse_rspamd_reply).
  boost::asio::awaitable<Result<SpamReply>> scan(const conf::SpamScanner& s,
                                                 const MessageContext& ctx) const;
  conf::SpamConfig cfg_;
};

}  // namespace sigil::filter
