// filter/core/message_store.cpp — see message_store.hpp.
#include "filter/core/message_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "conf/ascii.hpp"
#include "filter/core/metrics.hpp"

namespace sigil::filter {

// ------------------------------------------------------------- HeaderIndex

void HeaderIndex::reset() {
  block_.clear();
  scan_pos_ = 0;
  fields_.clear();
  done_ = overflow_ = false;
  body_offset_ = 0;
}

void HeaderIndex::feed(std::string_view bytes) {
  if (done_) return;
  std::size_t room = max_size_ + 2 > block_.size() ? max_size_ + 2 - block_.size() : 0;
  if (bytes.size() > room) {
    block_.append(bytes.substr(0, room));
    scan();
    if (!done_) {
      overflow_ = true;
      done_ = true;
      body_offset_ = block_.size();
    }
    return;
  }
  block_.append(bytes);
  scan();
}

static bool is_field_name_char(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return u > 32 && u < 127 && c != ':';
}

void HeaderIndex::scan() {
  while (!done_) {
    auto nl = block_.find('\n', scan_pos_);
    if (nl == std::string::npos) return;
    std::string_view line(block_.data() + scan_pos_, nl + 1 - scan_pos_);
    if (line == "\r\n") {  // end of header section
      done_ = true;
      body_offset_ = nl + 1;
      block_.resize(scan_pos_);
      return;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !fields_.empty()) {
      fields_.back().length += static_cast<std::uint32_t>(line.size());
    } else {
      std::size_t i = 0;
      while (i < line.size() && is_field_name_char(line[i])) ++i;
      std::size_t colon = i;
      while (colon < line.size() && (line[colon] == ' ' || line[colon] == '\t')) ++colon;
      if (i == 0 || colon >= line.size() || line[colon] != ':') {
        // Not a header field: the body starts here, without a separator.
        done_ = true;
        body_offset_ = scan_pos_;
        block_.resize(scan_pos_);
        return;
      }
      fields_.push_back({static_cast<std::uint32_t>(scan_pos_),
                         static_cast<std::uint32_t>(line.size()),
                         static_cast<std::uint32_t>(i)});
    }
    scan_pos_ = nl + 1;
  }
}

void HeaderIndex::finish() {
  if (done_) return;
  // Message ended inside the header section (no body).
  done_ = true;
  if (scan_pos_ < block_.size()) {
    std::string_view rest(block_.data() + scan_pos_, block_.size() - scan_pos_);
    if ((rest[0] == ' ' || rest[0] == '\t') && !fields_.empty())
      fields_.back().length += static_cast<std::uint32_t>(rest.size());
    else if (auto c = rest.find(':'); c != std::string_view::npos && c > 0)
      fields_.push_back({static_cast<std::uint32_t>(scan_pos_),
                         static_cast<std::uint32_t>(rest.size()), static_cast<std::uint32_t>(c)});
  }
  body_offset_ = block_.size();
}

const HeaderField* HeaderIndex::find(std::string_view n) const {
  for (auto& f : fields_)
    if (ascii::iequals(name(f), n)) return &f;
  return nullptr;
}

bool field_is_named(std::string_view field, std::string_view name) {
  auto colon = field.find(':');
  if (colon == std::string_view::npos) return false;
  auto n = field.substr(0, colon);
  while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.remove_suffix(1);
  return ascii::iequals(n, name);
}

std::optional<std::string> unfolded_value(const HeaderIndex& h, std::string_view name) {
  const HeaderField* f = h.find(name);
  if (!f) return std::nullopt;
  std::string_view all = h.field(*f);
  auto colon = all.find(':');
  std::string v;
  for (char c : all.substr(colon == std::string_view::npos ? all.size() : colon + 1))
    if (c != '\r' && c != '\n') v += c;
  // SP and HT in front; behind, any white space, VT and FF included
  // ("Precedence: bulk\f" is bulk).
  std::string_view t = v;
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
  return std::string(t);
}

// ------------------------------------------------------------- MessageStore

namespace {
constexpr std::size_t kWriteBuffer = 64 * 1024;
}

MessageStore::MessageStore(std::size_t memory_threshold, std::string spool_dir,
                           std::size_t max_header)
    : threshold_(memory_threshold), spool_dir_(std::move(spool_dir)), headers_(max_header) {}

MessageStore::~MessageStore() { reset(); }

void MessageStore::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (spooled_bytes_) metrics::spool_bytes(-static_cast<std::int64_t>(spooled_bytes_));
  spooled_bytes_ = 0;
  mem_.clear();
  if (mem_.capacity() > threshold_) std::string().swap(mem_);
  wbuf_.clear();
  size_ = 0;
  headers_.reset();
}

Status MessageStore::spill() {
  int fd = ::open(spool_dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    std::string tmpl = spool_dir_ + "/sigil-XXXXXX";
    mode_t old = ::umask(077);
    fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
    ::umask(old);
    if (fd >= 0) ::unlink(tmpl.c_str());
  }
  if (fd < 0)
    return make_error(ErrorKind::Io, "cannot create spool file in " + spool_dir_ + ": " +
                                         std::strerror(errno));
  ::fchmod(fd, 0600);
  fd_ = fd;
  wbuf_ = std::move(mem_);
  mem_ = std::string();
  return flush_wbuf();
}

Status MessageStore::flush_wbuf() {
  const char* p = wbuf_.data();
  std::size_t left = wbuf_.size();
  while (left > 0) {
    ssize_t w = ::write(fd_, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      return make_error(ErrorKind::Io, std::string("spool write failed: ") + std::strerror(errno));
    }
    p += w;
    left -= static_cast<std::size_t>(w);
    spooled_bytes_ += static_cast<std::uint64_t>(w);
    metrics::spool_bytes(w);
  }
  wbuf_.clear();
  if (wbuf_.capacity() > 2 * kWriteBuffer) std::string().swap(wbuf_);
  return Ok{};
}

Status MessageStore::append(std::string_view bytes) {
  if (bytes.empty()) return Ok{};
  headers_.feed(bytes);
  size_ += bytes.size();
  if (fd_ < 0) {
    if (mem_.size() + bytes.size() <= threshold_) {
      mem_.append(bytes);
      return Ok{};
    }
    mem_.append(bytes);
    return spill();
  }
  if (wbuf_.size() + bytes.size() > kWriteBuffer) {
    if (auto s = flush_wbuf(); !s) return s;
    if (bytes.size() >= kWriteBuffer) {
      wbuf_.assign(bytes);
      return flush_wbuf();
    }
  }
  wbuf_.append(bytes);
  return Ok{};
}

Status MessageStore::finish() {
  headers_.finish();
  if (fd_ >= 0) return flush_wbuf();
  return Ok{};
}

Result<std::size_t> MessageStore::read(std::uint64_t offset, char* buf, std::size_t len) const {
  if (offset >= size_) return std::size_t{0};
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(len, size_ - offset));
  if (fd_ < 0) {
    std::memcpy(buf, mem_.data() + offset, n);
    return n;
  }
  for (;;) {
    ssize_t r = ::pread(fd_, buf, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0)
      return make_error(ErrorKind::Io, std::string("spool read failed: ") + std::strerror(errno));
    return static_cast<std::size_t>(r);
  }
}

// ------------------------------------------------------------- ChunkReader

Result<std::string_view> ChunkReader::next() {
  if (offset_ >= message_.size()) return std::string_view();
  if (!message_.spooled()) {
    auto piece = message_.in_memory().substr(static_cast<std::size_t>(offset_), kChunkSize);
    offset_ += piece.size();
    return piece;
  }
  if (!buffer_) buffer_ = std::make_unique_for_overwrite<char[]>(kChunkSize);
  auto n = message_.read(offset_, buffer_.get(), kChunkSize);
  if (!n) return n.error();
  offset_ += *n;
  return std::string_view(buffer_.get(), *n);
}

}  // namespace sigil::filter
