// filter/stages/decode/decode_stage.hpp — the `decode` stage (Inspect phase): MIME parts,
// archive contents, banned content and header sanity.
//
// For each message:
//   1. header checks on the stored header section (HeaderIndex), Amavis's
//      bad-header category: 8-bit bytes when the envelope did not declare
//      SMTPUTF8, a missing or duplicated From or Date, a duplicated Subject;
//      during the walk, invalid MIME fields of any entity (RFC 2045: a
//      Content-Type that is not type/subtype tokens, an unknown
//      Content-Transfer-Encoding, an encoded multipart), at most 5
//      (header_checks.hpp);
//   2. the message is parsed with GMime 3 straight from the MessageStore (a
//      memory stream, or a file stream on a dup() of the spool file: a
//      spooled message is never loaded into memory) and every MIME entity
//      is walked (multiparts and message/rfc822 recursively) (walker.hpp);
//   3. each leaf gets a PartInfo (parts.hpp): declared type, declared file
//      name (GMime decodes RFC 2231 and RFC 2047), the type libmagic detects
//      in the first 64 KiB of the decoded content, and the decoded size (the
//      content is decoded in chunks, never held whole) (content.hpp);
//   4. archives: when libarchive recognises a leaf's first 64 KiB as an
//      archive (zip, 7z, rar, tar, cpio, iso9660, ar, cab, lha, xar) or a
//      compressed stream (gzip, bzip2, xz, lzma, lzip, zstd, lz4, compress,
//      uu; a tar.gz is one tar), its members are listed and read, each a
//      PartInfo (path through the containers, container formats), and
//      members that are archives themselves are opened in turn
//      (archives.hpp).  A leaf or member that is an archive is written to a
//      file in a private mkdtemp directory (mode 0700, under [decode]
//      temp_dir, default the spool directory), unlinked at once and read
//      through its fd; the directory is removed when the message is done
//      (RAII, also on exceptions) (temp_dir.hpp).  Other members are typed
//      from their first 64 KiB and counted, never written out; so an
//      archive of 64 KiB or less is read from memory;
//   5. limits of [decode]: more than max_parts entities (MIME parts and
//      archive members), nesting deeper than max_depth (MIME and archive
//      levels together), more decoded plus unpacked bytes than the
//      expansion quota (checked per chunk while reading: a zip bomb is
//      never unpacked past it), an encrypted archive or member, a corrupt
//      or truncated archive, or an ambiguous multipart (no boundary
//      parameter, or more than one) stop the walk with the finding
//      `unchecked` (DecodeResult::complete = false) (walk_state.hpp);
//   6. banned content (Amavis's $banned_filename_re): the policy's
//      [banned.NAME] rule set (banned_rules; the built-in "default" unless
//      configured; "none": no checks) is applied to every recorded part,
//      also after an incomplete walk: the first rule whose matchers all
//      match decides, and each banned part gives a finding `banned` naming
//      the part and the rule (at most 10, then one "N more") (banned.hpp);
//   7. the note decode="N parts; names: a.pdf, invoice.zip, invoice.zip/x.exe".
//
// This file: the stage itself (the rule set of the policy, the deadline,
// the hop to the decode pool, findings and note into the message context)
// and decode_message, the synchronous core that runs steps 1 to 7.
//
// Does not: bound GMime's own parser recursion before the walk (GMime
// builds the whole tree first), decrypt anything, write non-archive members
// out (nothing downstream reads them: clamd unpacks the whole message
// itself), match names inside documents (OLE, PDF), or interrupt GMime's
// parse of the message itself (the time limit is checked during the walk).
// Left out of libarchive's "all" on purpose: mtree (its spec names files of
// the local file system) and the filters that run external programs
// (lrzip, lzop, grzip).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "conf/config.hpp"
#include "filter/core/envelope.hpp"
#include "filter/core/message_store.hpp"
#include "filter/core/pipeline.hpp"
#include "filter/stages/decode/banned.hpp"
#include "filter/stages/decode/parts.hpp"

namespace sigil::filter {

// Synchronous core of the stage (also used by tests).  `banned`: the rule
// set to apply (nullptr: no banned checks).  cfg.temp_dir "" means $TMPDIR,
// else /tmp.  `stop_at`: the walk stops there (checked at each entity and
// each 64 KiB read) with an `unchecked` finding "decode time limit reached".
// Never throws for message contents; a spool read problem or a temporary
// file that cannot be made gives an `unchecked` finding.  Thread-safe: the
// stage runs it on its own pool (GMime objects, the libmagic handle and the
// temporary directory are per call or per thread).
DecodeResult decode_message(const MessageStore& message, const Envelope& envelope,
                            const conf::DecodeConfig& cfg, const BannedRules* banned = nullptr,
                            std::optional<std::chrono::steady_clock::time_point> stop_at = {});

// The walk runs on a process-wide pool of [decode] threads (one per CPU by
// default; built on first use with the size the first configuration asked
// for, never destroyed), so other sessions go on while a big message or
// archive is unpacked; threads = 0 walks on the event loop.  Either way the
// walk stops at the stage's deadline, cut by the listener's budget: the
// pipeline's timer alone could not stop it (a walk on the event loop keeps
// the timer from firing, and one on the pool cannot be cancelled), so the
// pipeline waits for the walk to notice.
class DecodeStage : public Stage {
 public:
  // `sets`: every rule set a policy may name (compile_banned); the policy's
  // banned_rules picks one per message ("default" when there is no policy).
  explicit DecodeStage(conf::DecodeConfig cfg, BannedSets sets = compile_banned({}));
  std::string_view name() const override { return "decode"; }
  Phase phase() const override { return Phase::Inspect; }
  // Always Continue; adds findings and the `decode` note.
  boost::asio::awaitable<Verdict> run(MessageContext& ctx) override;

 private:
  conf::DecodeConfig cfg_;
  BannedSets sets_;
  std::size_t threads_ = 0;
};

}  // namespace sigil::filter
