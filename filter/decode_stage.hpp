// filter/decode_stage.hpp — the `decode` stage (Inspect phase): MIME parts
// and header sanity, first part (issue 6).
//
// For each message:
//   1. header checks on the stored header section (HeaderIndex), Amavis's
//      bad-header category: 8-bit bytes when the envelope did not declare
//      SMTPUTF8, a missing or duplicated From, a duplicated Date or Subject;
//   2. the message is parsed with GMime 3 straight from the MessageStore (a
//      memory stream, or a file stream on a dup() of the spool file: a
//      spooled message is never loaded into memory) and every MIME entity
//      is walked (multiparts and message/rfc822 recursively);
//   3. each leaf gets a PartInfo: declared type, declared file name (GMime
//      decodes RFC 2231 and RFC 2047), the type libmagic detects in the first
//      64 KiB of the decoded content, and the decoded size (the content is
//      decoded in chunks, never held whole);
//   4. limits of [decode]: more than max_parts entities or nesting deeper
//      than max_depth stop the walk with the finding `unchecked`; so does an
//      ambiguous multipart (no boundary parameter, or more than one);
//   5. the note decode="N parts; names: a.pdf, facture-é.exe".
//
// Does not (yet): open archives (libarchive), apply banned-name/type rules,
// enforce an expansion quota, or bound GMime's own parser recursion before
// the walk (GMime builds the whole tree first).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "conf/config.hpp"
#include "filter/envelope.hpp"
#include "filter/message_store.hpp"
#include "filter/pipeline.hpp"

namespace sigil::filter {

// One leaf MIME part, in document order.
struct PartInfo {
  std::string declared_type;  // "application/pdf", lower case ("text/plain" by default)
  std::string name;           // declared file name, UTF-8 (filename or name); "" when none
  std::string detected_type;  // libmagic's MIME type of the decoded content; "" if unknown
  std::uint64_t size = 0;     // decoded bytes
  unsigned depth = 0;         // 0: the message's own body
};

struct DecodeResult {
  std::vector<PartInfo> parts;
  std::vector<Finding> findings;  // stage "decode"
  bool complete = true;           // false: the walk stopped early (a finding says why)
  std::string note;               // the value of the `decode` note
};

// Synchronous core of the stage (also used by tests).  Never throws for
// message contents; a spool read problem gives an `unchecked` finding.
DecodeResult decode_message(const MessageStore& message, const Envelope& envelope,
                            const conf::DecodeConfig& cfg);

class DecodeStage : public Stage {
 public:
  explicit DecodeStage(conf::DecodeConfig cfg);
  std::string_view name() const override { return "decode"; }
  Phase phase() const override { return Phase::Inspect; }
  // Always Continue; adds findings and the `decode` note.
  boost::asio::awaitable<Verdict> run(MessageContext& ctx) override;

 private:
  conf::DecodeConfig cfg_;
};

}  // namespace sigil::filter
