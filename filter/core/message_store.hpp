// filter/core/message_store.hpp — one message's bytes, in memory or spooled.
//
// The message (canonical CRLF form, unstuffed) is kept in memory up to
// `memory_threshold` bytes; beyond that it moves to a private temporary file
// in spool_dir, opened O_TMPFILE (mode 0600, never linked, so it disappears
// when closed, even after a crash) or, where the filesystem lacks O_TMPFILE,
// created 0600 with mkstemp and unlinked at once.  Memory use is bounded by
// the threshold plus one write buffer, whatever the message size.
//
// The header index (RFC 5322 §2.2) is built while bytes arrive: the header
// block is also kept in memory (bounded by max_header_size) with one span per
// field.  The header section ends at the first empty line, or at the first
// line that is neither a field nor a continuation (then there is no
// separator, as Postfix treats it).
//
// ChunkReader is the one way to walk the stored bytes in bounded pieces
// (64 KiB): the back-end client, the scanners, the DKIM stages and the
// quarantine all read the message through it.
// Does not: interpret field bodies, decode MIME, or rewrite bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/result.hpp"

namespace sigil::filter {

struct HeaderField {
  std::uint32_t offset = 0;  // into the header block (== message offset)
  std::uint32_t length = 0;  // whole field including continuation lines and final CRLF
  std::uint32_t name_length = 0;
};

class HeaderIndex {
 public:
  explicit HeaderIndex(std::size_t max_size) : max_size_(max_size) {}
  // Feed message bytes in order; ignored once the header section ended.
  void feed(std::string_view bytes);
  // Call at end of data: a last field without CRLF is closed.
  void finish();

  bool complete() const { return done_; }
  bool overflow() const { return overflow_; }  // header section > max_size
  const std::string& block() const { return block_; }  // header section bytes
  const std::vector<HeaderField>& fields() const { return fields_; }
  std::string_view name(const HeaderField& f) const {
    return std::string_view(block_).substr(f.offset, f.name_length);
  }
  std::string_view field(const HeaderField& f) const {
    return std::string_view(block_).substr(f.offset, f.length);
  }
  // First field with this name (case-insensitive), or nullptr.
  const HeaderField* find(std::string_view name) const;
  // Offset of the body in the message (after the empty line, if any).
  std::uint64_t body_offset() const { return body_offset_; }
  void reset();

 private:
  void scan();
  std::size_t max_size_;
  std::string block_;
  std::size_t scan_pos_ = 0;  // start of the first line not yet classified
  std::vector<HeaderField> fields_;
  bool done_ = false;
  bool overflow_ = false;
  std::uint64_t body_offset_ = 0;
};

// The value of the first field `name` (case-insensitive) unfolded: CR and
// LF removed, white space trimmed at both ends (RFC 5322 §2.2.3; VT and FF
// count as white space at the end); nullopt
// when there is none.
std::optional<std::string> unfolded_value(const HeaderIndex& h, std::string_view name);

// True when the complete field `field` ("Name: value\r\n") is named `name`
// (case-insensitive; white space before the colon allowed, RFC 5322 §4.5).
bool field_is_named(std::string_view field, std::string_view name);

class MessageStore {
 public:
  MessageStore(std::size_t memory_threshold, std::string spool_dir, std::size_t max_header);
  ~MessageStore();
  MessageStore(const MessageStore&) = delete;
  MessageStore& operator=(const MessageStore&) = delete;

  // Appends bytes.  Failure (ErrorKind::Io): the spool file could not be
  // created or written; the message must be tempfailed.
  Status append(std::string_view bytes);
  // Flushes the write buffer and closes the header index.  Failure: Io.
  Status finish();

  std::uint64_t size() const { return size_; }
  bool spooled() const { return fd_ >= 0; }
  int spool_fd() const { return fd_; }  // for tests: -1 when in memory
  const HeaderIndex& headers() const { return headers_; }
  // The whole message when it is held in memory (not spooled); empty otherwise.
  // Lets the back-end client send without copying.
  std::string_view in_memory() const { return fd_ < 0 ? std::string_view(mem_) : std::string_view(); }

  // Reads up to len bytes at offset.  Returns bytes read (0 at end).
  // Failure: Io (pread error).
  Result<std::size_t> read(std::uint64_t offset, char* buf, std::size_t len) const;

  // Drops the message (closes the spool file) for the next transaction.
  void reset();

 private:
  Status spill();
  Status flush_wbuf();
  std::size_t threshold_;
  std::string spool_dir_;
  std::string mem_;
  std::string wbuf_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t spooled_bytes_ = 0;  // written to fd_ (sigil_spool_bytes)
  HeaderIndex headers_;
};

// Walks a message's bytes from an offset to the end, in chunks of at most
// kChunkSize bytes: views into the message when it is held in memory, else
// read from the spool file into a buffer (allocated on the first read).
// Works across co_await: a chunk stays valid until the next call to next(),
// and the message must not change meanwhile.  Neither copyable nor movable.
class ChunkReader {
 public:
  static constexpr std::size_t kChunkSize = 64 * 1024;

  explicit ChunkReader(const MessageStore& message, std::uint64_t offset = 0)
      : ChunkReader(message, offset, own_buffer_) {}
  // The same, reading into `buffer`, which the caller keeps for the next
  // message (no allocation per message); allocated here when null.
  ChunkReader(const MessageStore& message, std::uint64_t offset, std::unique_ptr<char[]>& buffer)
      : message_(message), offset_(offset), buffer_(buffer) {}
  ChunkReader(const ChunkReader&) = delete;
  ChunkReader& operator=(const ChunkReader&) = delete;

  // The next chunk, empty at the end of the message (or where the spool
  // file ends early: then offset() < message.size()).  Failure: Io (the
  // spool read failed, MessageStore::read's error).
  Result<std::string_view> next();
  // Where the next chunk starts: the message size once all was read.
  std::uint64_t offset() const { return offset_; }

 private:
  const MessageStore& message_;
  std::uint64_t offset_;
  std::unique_ptr<char[]> own_buffer_;
  std::unique_ptr<char[]>& buffer_;
};

}  // namespace sigil::filter
