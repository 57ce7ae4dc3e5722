// filter/core/quarantine.hpp — the quarantine: a directory of held messages, one
// file each, and what `sigil quarantine list|show|release` reads from it.
//
// A message is quarantined when its worst category is in the policy's
// `quarantine` list (banks, conf::BankConfig::quarantine), whatever its
// destiny, except tempfail (the sender's MTA keeps it and will offer it
// again).  The session stores it before it answers the client; when the
// store fails the message is tempfailed, never passed or dropped unstored.
//
// Ids are 16 characters of base32 (a-z, 2-7): 80 random bits from
// getrandom(2), so ids cannot be guessed and do not collide.  Delivered
// copies of a quarantined message (destiny pass) carry
// "X-Quarantine-ID: <id>", as Amavis writes it.
//
// File format (DIR/ID, or DIR/ID.gz with [quarantine] compress = true): a
// block of metadata lines, an empty line, then the message exactly as
// received (CRLF line ends, before any header edit):
//
//   Sigil-Quarantine: 1
//   Id: 4hx2mq7ysbn3kd5a
//   Log-Id: 5d3c1a...
//   Time: Sat, 28 Nov 2026 13:45:02 +0000
//   Category: virus (av: Eicar-Test-Signature) destiny=discard
//   Client: [192.0.2.1]:42312 mail.example.net
//   Mail-From: <sender@example.net> RET=HDRS ENVID=abc
//   Rcpt-To: <a@example.com> NOTIFY=FAILURE ORCPT=rfc822;a@example.com
//   Smtputf8: no
//   Body-8bit: no
//   Header-Remove: 4 9
//   Header-Add: Authentication-Results: mx.example.com;\r\n\tdkim=none\r\n
//   Size: 5123
//
// Header-Remove and Header-Add record the header edits the pipeline made
// (pipeline.hpp's HeaderEdits: indices of the received fields not sent on,
// such as a forged Authentication-Results, and the fields prepended, in
// order, with '\\', CR, LF and TAB written as \\, \r, \n and \t), so that
// a released copy is delivered as a passed one would have been.
//
// Other metadata values are one line each (control bytes become '?').  A file is
// written to DIR/.tmp-ID (O_EXCL, mode 0600), fsync'ed, then renamed, so
// `list` never sees half a file; the directory is created (mode 0700) when
// missing.  Reading goes through zlib's gzread, which reads plain and gzip
// files alike.
//
// Implements no RFC: the file format is Sigil's own (Time: is an RFC 5322
// date-time); the message is read from its store through ChunkReader.
//
// Does not: expire old entries (a cron job with find -mtime does), keep an
// index (list reads every file's metadata block), or store per-recipient
// copies (one file per message, with every recipient).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "conf/result.hpp"
#include "filter/core/envelope.hpp"
#include "filter/core/message_store.hpp"
#include "filter/core/pipeline.hpp"

namespace sigil::filter::quarantine {

// Metadata of one quarantined message.
struct Entry {
  std::string id;
  std::string log_id;
  std::string time;      // RFC 5322 date
  std::string category;  // the summary's category text
  std::string client;    // "[addr]:port helo"
  Envelope envelope;     // sender, params, recipients, smtputf8, body_8bit
  HeaderEdits edits;     // what the pipeline did to the header (above)
  std::uint64_t size = 0;
  std::string path;      // the file (set by read/list/store)
};

// A fresh random id (16 base32 characters, 80 bits).
std::string new_id();
// True when `id` has the form new_id() makes (checked before any path is built).
bool valid_id(std::string_view id);

// Stores `message` with `meta` (meta.id must be set).  Failure: Io, with the
// path and errno text.  Synchronous file I/O.
Status store(const conf::QuarantineConfig& cfg, Entry meta, const MessageStore& message);

// Reads the metadata of DIR/ID (or ID.gz); with `message`, also the stored
// message.  Failure: NotFound-like Io error naming the id, or Protocol when
// the file is not a quarantine file.
Result<Entry> read(const std::string& dir, std::string_view id, std::string* message = nullptr);

// Every entry in DIR, oldest first (by file time, then id).  Files that are
// not quarantine files are skipped.
Result<std::vector<Entry>> list(const std::string& dir);

}  // namespace sigil::filter::quarantine
