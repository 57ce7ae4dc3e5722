// filter/stages/av_stage.hpp — the `av` stage (Inspect phase): virus scanning with
// ClamAV's clamd over its INSTREAM protocol.
//
// For each message:
//   1. a message larger than [av] max_size is not scanned: finding
//      `unchecked` ("too large for av");
//   2. the scanners of [av] are tried in order (primaries, then backups); a
//      scanner that cannot be reached, exceeds its timeout (connect + the
//      whole scan, one asio timer), answers ERROR or answers something we
//      cannot parse counts as failed, and the next one is tried;
//   3. the first answer decides: "OK" gives the note av="clean (scanner X)";
//      "<Name> FOUND" gives a `virus` finding (the policy's destiny decides,
//      default discard), the note av="INFECTED <Name> (scanner X)" and the
//      field "X-Sigil-Alert: INFECTED, message contains virus: <Name>"
//      (Amavis's X-Amavis-Alert), which reaches the mailbox only with a
//      `pass` destiny;
//   4. when every scanner failed, the note says why each failed and
//      [av] on_error decides: tempfail (451, the default: never a silent
//      pass), continue (finding `unchecked`) or reject.
// The message is streamed from the MessageStore in 64 KiB chunks (memory or
// spool file); a spooled message is never loaded into memory.
//
// Protocol: clamd(8), "INSTREAM": the client sends "zINSTREAM\0", then
// chunks of <4-byte length, network byte order><data>, then a zero-length
// chunk; clamd answers one NUL-terminated line: "stream: OK",
// "stream: <Name> FOUND" or "<why> ERROR" (e.g. "INSTREAM size limit
// exceeded. ERROR" past its StreamMaxLength, after which it closes).
//
// Implements no RFC: INSTREAM is clamd's own protocol.
//
// Does not: decode MIME itself (clamd does), keep connections open between
// messages (INSTREAM is one scan per connection), use IDSESSION, scan with
// more than the first scanner that answers, or resolve host names.
#pragma once

#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "conf/config.hpp"
#include "filter/core/message_store.hpp"
#include "filter/core/pipeline.hpp"
#include "filter/stages/clamd_reply.hpp"

namespace sigil::filter {

// The outcome of one scanner.
struct ScanOutcome {
  enum class Kind { Clean, Infected, Failed };
  Kind kind = Kind::Failed;
  std::string detail;  // Infected: the signature name; Failed: why
};

// Scans the whole message with one clamd, within scanner.timeout (connect
// included).  Never throws for trouble with the scanner.  Failed outcomes:
// "connect: <error>", "send: <error>", "read: <error>", "timed out after
// Ns", "connection closed without a reply", "reply longer than 4096 bytes",
// "clamd: <reply> ERROR" (size limit, out of memory, ...), "unexpected reply:
// <reply>", "message store: <error>".
boost::asio::awaitable<ScanOutcome> clamd_scan(const conf::AvScanner& scanner,
                                               const MessageStore& message);

class AvStage : public Stage {
 public:
  // `cfg.scanners` must not be empty (conf/ checks a bank listing "av").
  // The stage's deadline is the sum of the scanner timeouts plus 5 s, so the
  // per-scanner timeouts and on_error decide, not the pipeline's deadline.
  explicit AvStage(conf::AvConfig cfg);
  std::string_view name() const override { return "av"; }
  Phase phase() const override { return Phase::Inspect; }
  // Continue, with findings and notes as above; TempFail or Reject only when
  // every scanner failed and on_error says so.
  boost::asio::awaitable<Verdict> run(MessageContext& ctx) override;

 private:
  conf::AvConfig cfg_;
};

}  // namespace sigil::filter
