// tests/filter/message_store_test.cpp — filter/core/message_store.hpp: memory vs
// spool file, privacy of the spool file, random-access reads, the chunk
// reader, bounded memory for big messages, the header index, and spool
// failures.
#include "filter/core/message_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace sigil::filter {
namespace {

namespace fs = std::filesystem;

// A fresh private directory, removed with its contents afterwards.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/sigil-ms-test-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, ec);
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(path_)) out.push_back(e.path().filename().string());
    return out;
  }

 private:
  std::string path_;
};

std::size_t open_fd_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

bool fd_is_open(int fd) {
  errno = 0;
  return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

long vm_rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

std::string read_all(const MessageStore& s) {
  std::string out(s.size(), '\0');
  std::size_t off = 0;
  while (off < out.size()) {
    auto r = s.read(off, out.data() + off, out.size() - off);
    if (!r) {
      ADD_FAILURE() << "read failed: " << r.error().message;
      break;
    }
    if (r.value() == 0) break;
    off += r.value();
  }
  out.resize(off);
  return out;
}

std::string random_bytes(std::mt19937& rng, std::size_t n) {
  std::string s(n, '\0');
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& c : s) c = static_cast<char>(byte(rng));
  return s;
}

// ------------------------------------------------------- memory vs spooled

TEST(MessageStore, InMemoryUpToThresholdThenSpooled) {
  TempDir dir;
  MessageStore s(1024, dir.path(), 4096);
  ASSERT_TRUE(s.append(std::string(1000, 'a')));
  EXPECT_FALSE(s.spooled());
  EXPECT_EQ(s.spool_fd(), -1);
  ASSERT_TRUE(s.append(std::string(24, 'b')));  // exactly the threshold
  EXPECT_FALSE(s.spooled()) << "spooled at exactly the threshold";
  EXPECT_EQ(s.spool_fd(), -1);
  ASSERT_TRUE(s.append("c"));
  EXPECT_TRUE(s.spooled());
  EXPECT_GE(s.spool_fd(), 0);
  ASSERT_TRUE(s.append(std::string(5000, 'd')));
  ASSERT_TRUE(s.finish());
  EXPECT_EQ(s.size(), 6025u);
  EXPECT_EQ(read_all(s), std::string(1000, 'a') + std::string(24, 'b') + "c" +
                             std::string(5000, 'd'));

  // reset(): the next message starts in memory again.
  s.reset();
  EXPECT_EQ(s.spool_fd(), -1);
  EXPECT_EQ(s.size(), 0u);
  ASSERT_TRUE(s.append("Subject: x\r\n\r\nhi\r\n"));
  ASSERT_TRUE(s.finish());
  EXPECT_FALSE(s.spooled());
  EXPECT_EQ(read_all(s), "Subject: x\r\n\r\nhi\r\n");
  ASSERT_NE(s.headers().find("subject"), nullptr);
}

TEST(MessageStore, SpoolFileIsPrivateUnlinkedAndClosed) {
  TempDir dir;
  const std::size_t fds_before = open_fd_count();
  int fd = -1;
  {
    MessageStore s(16, dir.path(), 4096);
    ASSERT_TRUE(s.append(std::string(100, 'x')));
    ASSERT_TRUE(s.spooled());
    fd = s.spool_fd();
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(s.finish());

    struct stat st {};
    ASSERT_EQ(::fstat(fd, &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600u) << "got mode " << std::oct << (st.st_mode & 07777);
    EXPECT_EQ(st.st_nlink, 0u) << "the spool file has a name";
    EXPECT_EQ(st.st_size, 100);
    EXPECT_TRUE(dir.entries().empty()) << "spool dir lists " << dir.entries().front();
    EXPECT_EQ(open_fd_count(), fds_before + 1);
    EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0) << "spool fd leaks into children";

    s.reset();
    EXPECT_FALSE(fd_is_open(fd)) << "reset() left fd " << fd << " open";
    EXPECT_EQ(open_fd_count(), fds_before);
    EXPECT_EQ(s.spool_fd(), -1);

    // Spool again, then let the destructor close it.
    ASSERT_TRUE(s.append(std::string(100, 'y')));
    fd = s.spool_fd();
    ASSERT_GE(fd, 0);
    EXPECT_EQ(open_fd_count(), fds_before + 1);
  }
  EXPECT_FALSE(fd_is_open(fd)) << "destructor left fd " << fd << " open";
  EXPECT_EQ(open_fd_count(), fds_before);
  EXPECT_TRUE(dir.entries().empty());
}

// ------------------------------------------------------------------- read()

void check_random_reads(std::size_t threshold, std::size_t total, unsigned seed) {
  TempDir dir;
  std::mt19937 rng(seed);
  MessageStore s(threshold, dir.path(), 4096);
  std::string ref;
  std::uniform_int_distribution<std::size_t> piece(0, 9000);
  while (ref.size() < total) {
    std::string p = random_bytes(rng, piece(rng));
    ref += p;
    auto st = s.append(p);
    ASSERT_TRUE(st) << st.error().message;
  }
  ASSERT_TRUE(s.finish());
  ASSERT_EQ(s.size(), ref.size());
  EXPECT_EQ(s.spooled(), ref.size() > threshold);
  EXPECT_EQ(read_all(s), ref);

  std::uniform_int_distribution<std::size_t> off(0, ref.size() + 10);
  std::uniform_int_distribution<std::size_t> len(0, 70000);
  std::vector<char> buf(70000);
  for (int i = 0; i < 300; ++i) {
    std::size_t o = off(rng), n = len(rng);
    auto r = s.read(o, buf.data(), n);
    ASSERT_TRUE(r) << r.error().message;
    std::size_t want = o >= ref.size() ? 0 : std::min(n, ref.size() - o);
    ASSERT_EQ(r.value(), want) << "read(" << o << ", " << n << ")";
    ASSERT_EQ(std::string_view(buf.data(), r.value()),
              std::string_view(ref).substr(std::min(o, ref.size()), want))
        << "read(" << o << ", " << n << ")";
  }
  // The edges.
  auto r = s.read(ref.size(), buf.data(), 10);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), 0u);
  r = s.read(ref.size() - 1, buf.data(), 10);
  ASSERT_TRUE(r);
  ASSERT_EQ(r.value(), 1u);
  EXPECT_EQ(buf[0], ref.back());
  r = s.read(0, buf.data(), 0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), 0u);
}

TEST(MessageStore, RandomReadsInMemory) { check_random_reads(1 << 20, 300000, 1); }
TEST(MessageStore, RandomReadsSpooled) { check_random_reads(4096, 600000, 2); }

// ------------------------------------------------------------ ChunkReader

// A store holding `bytes`, finished; spooled when longer than `threshold`.
void fill(MessageStore& s, const std::string& bytes) {
  for (std::size_t off = 0; off < bytes.size(); off += 5000) {
    auto st = s.append(std::string_view(bytes).substr(off, 5000));
    ASSERT_TRUE(st) << st.error().message;
  }
  ASSERT_TRUE(s.finish());
}

// Every chunk from where `r` stands to the end, each checked against the
// bound and offset(); `sizes` gets their lengths.
std::string read_chunks(ChunkReader& r, std::vector<std::size_t>& sizes) {
  const std::uint64_t start = r.offset();
  std::string out;
  for (;;) {
    auto piece = r.next();
    if (!piece) {
      ADD_FAILURE() << "next() failed: " << piece.error().message;
      break;
    }
    if (piece->empty()) break;
    EXPECT_LE(piece->size(), ChunkReader::kChunkSize);
    sizes.push_back(piece->size());
    out.append(*piece);
    EXPECT_EQ(r.offset(), start + out.size());
  }
  return out;
}

void check_chunks(std::size_t threshold, std::size_t total, bool spooled) {
  TempDir dir;
  std::mt19937 rng(7);
  const std::string ref = random_bytes(rng, total);
  MessageStore s(threshold, dir.path(), 4096);
  fill(s, ref);
  ASSERT_EQ(s.spooled(), spooled);
  for (std::uint64_t offset : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{65536},
                               std::uint64_t{100000}, std::uint64_t{total - 1},
                               std::uint64_t{total}, std::uint64_t{total + 10}}) {
    SCOPED_TRACE("offset " + std::to_string(offset));
    ChunkReader r(s, offset);
    EXPECT_EQ(r.offset(), offset);
    std::vector<std::size_t> sizes;
    std::string got = read_chunks(r, sizes);
    const std::size_t start = static_cast<std::size_t>(std::min<std::uint64_t>(offset, total));
    EXPECT_EQ(got, ref.substr(start));
    // Full chunks but the last.
    for (std::size_t i = 0; i + 1 < sizes.size(); ++i) EXPECT_EQ(sizes[i], ChunkReader::kChunkSize);
    const std::size_t k = ChunkReader::kChunkSize;
    EXPECT_EQ(sizes.size(), (total - start + k - 1) / k);
    EXPECT_EQ(r.offset(), std::max<std::uint64_t>(offset, total));
    // At the end it stays at the end.
    auto again = r.next();
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->empty());
  }
}

TEST(ChunkReader, InMemory) { check_chunks(1 << 20, 300000, false); }
TEST(ChunkReader, Spooled) { check_chunks(4096, 300000, true); }
TEST(ChunkReader, ExactlyOneChunk) { check_chunks(4096, ChunkReader::kChunkSize, true); }

TEST(ChunkReader, InMemoryChunksAreViewsOfTheMessage) {
  TempDir dir;
  MessageStore s(1 << 20, dir.path(), 4096);
  fill(s, std::string(150000, 'm'));
  ChunkReader r(s, 10);
  auto piece = r.next();
  ASSERT_TRUE(piece);
  EXPECT_EQ(piece->data(), s.in_memory().data() + 10);
  EXPECT_EQ(piece->size(), ChunkReader::kChunkSize);
}

TEST(ChunkReader, EmptyMessage) {
  TempDir dir;
  MessageStore s(1024, dir.path(), 4096);
  ASSERT_TRUE(s.finish());
  ChunkReader r(s);
  auto piece = r.next();
  ASSERT_TRUE(piece);
  EXPECT_TRUE(piece->empty());
  EXPECT_EQ(r.offset(), 0u);
}

TEST(ChunkReader, CallersBufferIsAllocatedOnceAndKept) {
  TempDir dir;
  MessageStore s(1024, dir.path(), 4096);
  fill(s, std::string(200000, 's'));
  std::unique_ptr<char[]> buffer;
  const char* first = nullptr;
  {
    ChunkReader r(s, 0, buffer);
    auto piece = r.next();
    ASSERT_TRUE(piece);
    ASSERT_NE(buffer, nullptr);
    first = buffer.get();
    EXPECT_EQ(piece->data(), first);
    std::vector<std::size_t> sizes;
    EXPECT_EQ(read_chunks(r, sizes), std::string(200000 - ChunkReader::kChunkSize, 's'));
  }
  ChunkReader again(s, 0, buffer);
  auto piece = again.next();
  ASSERT_TRUE(piece);
  EXPECT_EQ(buffer.get(), first) << "the kept buffer was replaced";

  // In memory, nothing is allocated.
  MessageStore small(1024, dir.path(), 4096);
  fill(small, "Subject: x\r\n\r\nhi\r\n");
  std::unique_ptr<char[]> unused;
  ChunkReader m(small, 0, unused);
  ASSERT_TRUE(m.next());
  EXPECT_EQ(unused, nullptr);
}

TEST(ChunkReader, SpoolFileShorterThanTheMessageEndsEarly) {
  TempDir dir;
  MessageStore s(1024, dir.path(), 4096);
  fill(s, std::string(100000, 't'));
  ASSERT_EQ(::ftruncate(s.spool_fd(), 70000), 0);
  ChunkReader r(s);
  std::vector<std::size_t> sizes;
  EXPECT_EQ(read_chunks(r, sizes), std::string(70000, 't'));
  EXPECT_EQ(r.offset(), 70000u) << "the caller tells a short spool file by offset() < size()";
}

TEST(ChunkReader, SpoolReadFailureIsAnIoError) {
  TempDir dir;
  MessageStore s(1024, dir.path(), 4096);
  fill(s, std::string(100000, 'u'));
  // The spool fd, made write-only behind the store's back: pread fails (EBADF).
  int w = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(w, 0);
  ASSERT_GE(::dup2(w, s.spool_fd()), 0);
  ::close(w);
  ChunkReader r(s, 5);
  auto piece = r.next();
  ASSERT_FALSE(piece);
  EXPECT_EQ(piece.error().kind, ErrorKind::Io);
  EXPECT_NE(piece.error().message.find("spool read failed"), std::string::npos)
      << piece.error().message;
  EXPECT_EQ(r.offset(), 5u);
}

TEST(MessageStore, FiftyMegabytesKeepMemoryBounded) {
  TempDir dir;
  MessageStore s(256 * 1024, dir.path(), 64 * 1024);
  std::string chunk(64 * 1024, '\0');
  for (std::size_t i = 0; i < chunk.size(); ++i)
    chunk[i] = (i % 78 == 77) ? '\n' : (i % 78 == 76 ? '\r' : static_cast<char>('a' + i % 26));
  const std::uint64_t total = 50ull * 1024 * 1024;
  const long before = vm_rss_kb();
  ASSERT_GT(before, 0);
  long peak = before;
  ASSERT_TRUE(s.append("Subject: big\r\n\r\n"));
  std::uint64_t n = 16;
  for (std::size_t i = 0; n < total; ++i) {
    std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), total - n));
    auto st = s.append(std::string_view(chunk.data(), k));
    ASSERT_TRUE(st) << st.error().message;
    n += k;
    if (i % 32 == 0) peak = std::max(peak, vm_rss_kb());
  }
  ASSERT_TRUE(s.finish());
  peak = std::max(peak, vm_rss_kb());
  EXPECT_TRUE(s.spooled());
  EXPECT_EQ(s.size(), total);
  EXPECT_LT(peak - before, 16 * 1024) << "RSS grew by " << (peak - before) << " kB";

  // Spot checks at both ends and in the middle.
  char buf[64];
  auto r = s.read(0, buf, 16);
  ASSERT_TRUE(r);
  EXPECT_EQ(std::string_view(buf, r.value()), "Subject: big\r\n\r\n");
  const std::uint64_t mid = 16 + 25ull * 1024 * 1024 + 5;  // chunk offset 5
  r = s.read(mid, buf, 10);
  ASSERT_TRUE(r);
  EXPECT_EQ(std::string_view(buf, r.value()), std::string_view(chunk.data() + 5, 10));
  r = s.read(total - 4, buf, 64);
  ASSERT_TRUE(r);
  ASSERT_EQ(r.value(), 4u);
  const std::size_t last_len = static_cast<std::size_t>((total - 16) % chunk.size());
  const std::size_t tail_off = last_len ? last_len : chunk.size();
  EXPECT_EQ(std::string_view(buf, 4), std::string_view(chunk.data() + tail_off - 4, 4));
  EXPECT_NE(s.headers().find("Subject"), nullptr);
  EXPECT_EQ(s.headers().body_offset(), 16u);
}

// ------------------------------------------------------------- header index

struct FieldView {
  std::string name, text;
  bool operator==(const FieldView&) const = default;
};

std::vector<FieldView> fields_of(const HeaderIndex& h) {
  std::vector<FieldView> out;
  for (auto& f : h.fields()) out.push_back({std::string(h.name(f)), std::string(h.field(f))});
  return out;
}

TEST(HeaderIndex, FieldsContinuationsAndBodyOffset) {
  const std::string msg =
      "Received: from a\r\n\tby b\r\n  with ESMTP\r\n"
      "Subject: hello\r\n world\r\n"
      "From: A <a@example.com>\r\n"
      "X-Empty:\r\n"
      "Received: second\r\n"
      "\r\n"
      "Body line 1\r\n"
      "Not-A: header in the body\r\n";
  MessageStore s(1 << 20, "/nonexistent", 4096);
  ASSERT_TRUE(s.append(msg));
  const HeaderIndex& h = s.headers();
  EXPECT_TRUE(h.complete()) << "the empty line ends the header section before finish()";
  ASSERT_TRUE(s.finish());
  std::vector<FieldView> want = {
      {"Received", "Received: from a\r\n\tby b\r\n  with ESMTP\r\n"},
      {"Subject", "Subject: hello\r\n world\r\n"},
      {"From", "From: A <a@example.com>\r\n"},
      {"X-Empty", "X-Empty:\r\n"},
      {"Received", "Received: second\r\n"},
  };
  EXPECT_EQ(fields_of(h), want);
  const std::size_t sep = msg.find("\r\n\r\n");
  EXPECT_EQ(h.body_offset(), sep + 4);
  EXPECT_EQ(h.block(), msg.substr(0, sep + 2));
  EXPECT_FALSE(h.overflow());
  for (auto& f : h.fields())  // offsets are message offsets
    EXPECT_EQ(msg.substr(f.offset, f.length), std::string(h.field(f)));

  // Names are found case-insensitively; the first of duplicates wins.
  ASSERT_NE(h.find("subject"), nullptr);
  EXPECT_EQ(h.field(*h.find("SUBJECT")), "Subject: hello\r\n world\r\n");
  EXPECT_EQ(h.field(*h.find("received")), want[0].text);
  EXPECT_NE(h.find("x-EMPTY"), nullptr);
  EXPECT_EQ(h.find("Not-A"), nullptr) << "a body line was indexed";
  EXPECT_EQ(h.find("Subj"), nullptr);
  EXPECT_EQ(h.find("Subject "), nullptr);
  EXPECT_EQ(h.find(""), nullptr);
}

TEST(HeaderIndex, Table) {
  struct Case {
    const char* name;
    std::string msg;
    std::vector<FieldView> fields;
    std::uint64_t body_offset;
  };
  const Case cases[] = {
      {"header_without_body", "Subject: x\r\nFrom: y\r\n",
       {{"Subject", "Subject: x\r\n"}, {"From", "From: y\r\n"}}, 21},
      {"separator_without_body", "Subject: x\r\n\r\n", {{"Subject", "Subject: x\r\n"}}, 14},
      {"last_field_without_crlf", "Subject: x\r\nFrom: y",
       {{"Subject", "Subject: x\r\n"}, {"From", "From: y"}}, 19},
      {"last_continuation_without_crlf", "Subject: x\r\n more",
       {{"Subject", "Subject: x\r\n more"}}, 17},
      {"no_separator", "Subject: x\r\nthis is the body\r\nTo: not a header\r\n",
       {{"Subject", "Subject: x\r\n"}}, 12},
      {"mbox_from_line_first", "From a@b Mon Jan 1\r\nSubject: x\r\n\r\n", {}, 0},
      {"continuation_first", " folded\r\nSubject: x\r\n\r\n", {}, 0},
      {"empty_message_body_only", "\r\nbody\r\n", {}, 2},
      {"space_before_colon", "Subject : x\r\n\r\nb", {{"Subject", "Subject : x\r\n"}}, 15},
      {"empty_name", ": x\r\n\r\n", {}, 0},
      {"bare_lf_line_ends_header", "A: 1\r\n\nB: 2\r\n\r\n", {{"A", "A: 1\r\n"}}, 6},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    MessageStore s(1 << 20, "/nonexistent", 4096);
    ASSERT_TRUE(s.append(c.msg));
    ASSERT_TRUE(s.finish());
    const HeaderIndex& h = s.headers();
    EXPECT_TRUE(h.complete());
    EXPECT_FALSE(h.overflow());
    EXPECT_EQ(fields_of(h), c.fields);
    EXPECT_EQ(h.body_offset(), c.body_offset)
        << "got body_offset " << h.body_offset() << ", want " << c.body_offset;
    EXPECT_LE(h.body_offset(), c.msg.size());
    EXPECT_EQ(h.block(), c.msg.substr(0, h.block().size()));
  }
}

TEST(HeaderIndex, IncompleteUntilFinish) {
  HeaderIndex h(4096);
  h.feed("Subject: x\r\nFrom: y\r\n");
  EXPECT_FALSE(h.complete());
  h.finish();
  EXPECT_TRUE(h.complete());
  EXPECT_EQ(h.fields().size(), 2u);
  // Bytes after the end are ignored.
  h.feed("To: z\r\n\r\n");
  EXPECT_EQ(h.fields().size(), 2u);
  EXPECT_EQ(h.find("To"), nullptr);
  h.reset();
  EXPECT_FALSE(h.complete());
  EXPECT_TRUE(h.fields().empty());
  EXPECT_TRUE(h.block().empty());
  h.feed("To: z\r\n\r\n");
  EXPECT_NE(h.find("to"), nullptr);
  EXPECT_EQ(h.body_offset(), 9u);
}

TEST(HeaderIndex, Overflow) {
  const std::size_t max = 100;
  // Exactly max bytes of fields (7 of 13 bytes and one of 9), then the separator: fits.
  std::string exact;
  while (exact.size() + 13 <= max) exact += "X: 12345678\r\n";
  exact += "Y: " + std::string(max - exact.size() - 5, 'p') + "\r\n";
  ASSERT_EQ(exact.size(), max);
  for (std::size_t chunk : {0u, 1u, 7u}) {
    SCOPED_TRACE(chunk);
    {
      std::string msg = exact + "\r\nbody\r\n";
      HeaderIndex h(max);
      if (chunk == 0) h.feed(msg);
      else
        for (std::size_t i = 0; i < msg.size(); i += chunk)
          h.feed(std::string_view(msg).substr(i, chunk));
      h.finish();
      EXPECT_FALSE(h.overflow()) << "a header of exactly max_header_size overflowed";
      EXPECT_EQ(h.body_offset(), max + 2);
      EXPECT_EQ(h.fields().size(), 8u);
    }
    {
      std::string msg = exact + "Z: 1\r\n\r\nbody\r\n";
      HeaderIndex h(max);
      if (chunk == 0) h.feed(msg);
      else
        for (std::size_t i = 0; i < msg.size(); i += chunk)
          h.feed(std::string_view(msg).substr(i, chunk));
      EXPECT_TRUE(h.overflow()) << "a header over max_header_size was accepted";
      EXPECT_TRUE(h.complete());
      EXPECT_LE(h.block().size(), max + 2) << "the header block is not bounded";
      h.finish();
      EXPECT_TRUE(h.overflow());
    }
  }
  // Through the store, with a big header and no separator at all.
  MessageStore s(1 << 20, "/nonexistent", max);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(s.append("X-Long: 0123456789\r\n"));
  ASSERT_TRUE(s.finish());
  EXPECT_TRUE(s.headers().overflow());
  EXPECT_LE(s.headers().block().size(), max + 2);
  EXPECT_EQ(s.size(), 50u * 20u);
}

TEST(HeaderIndex, SplitAcrossAppendsGivesSameIndex) {
  const std::string msg =
      "Received: from a\r\n\tby b\r\n  with ESMTP\r\n"
      "DKIM-Signature: v=1; a=rsa-sha256;\r\n\tb=abc\r\n\tdef\r\n"
      "Subject: hello\r\n world\r\n"
      "From: A <a@example.com>\r\n"
      "\r\n"
      "Body: not a header\r\n";
  MessageStore whole(1 << 20, "/nonexistent", 4096);
  ASSERT_TRUE(whole.append(msg));
  ASSERT_TRUE(whole.finish());
  const auto want = fields_of(whole.headers());
  ASSERT_EQ(want.size(), 4u);
  auto same = [&](const MessageStore& s) {
    const HeaderIndex& h = s.headers();
    EXPECT_EQ(fields_of(h), want);
    EXPECT_EQ(h.body_offset(), whole.headers().body_offset());
    EXPECT_EQ(h.block(), whole.headers().block());
    ASSERT_EQ(h.fields().size(), whole.headers().fields().size());
    for (std::size_t i = 0; i < h.fields().size(); ++i) {
      EXPECT_EQ(h.fields()[i].offset, whole.headers().fields()[i].offset);
      EXPECT_EQ(h.fields()[i].length, whole.headers().fields()[i].length);
      EXPECT_EQ(h.fields()[i].name_length, whole.headers().fields()[i].name_length);
    }
  };
  for (std::size_t chunk = 1; chunk <= 17; ++chunk) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    MessageStore s(1 << 20, "/nonexistent", 4096);
    for (std::size_t i = 0; i < msg.size(); i += chunk)
      ASSERT_TRUE(s.append(std::string_view(msg).substr(i, chunk)));
    ASSERT_TRUE(s.finish());
    same(s);
  }
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    SCOPED_TRACE("random round " + std::to_string(round));
    MessageStore s(1 << 20, "/nonexistent", 4096);
    std::size_t i = 0;
    std::uniform_int_distribution<std::size_t> len(0, 40);
    while (i < msg.size()) {
      std::size_t n = std::min(len(rng), msg.size() - i);
      ASSERT_TRUE(s.append(std::string_view(msg).substr(i, n)));
      i += n;
    }
    ASSERT_TRUE(s.finish());
    same(s);
  }
}

// ----------------------------------------------------------- spool failures

TEST(MessageStore, UnusableSpoolDirGivesIoError) {
  TempDir dir;
  const std::string not_a_dir = dir.path() + "/file";
  { std::ofstream(not_a_dir) << "x"; }
  std::vector<std::string> bad = {dir.path() + "/does/not/exist", not_a_dir};
  if (::geteuid() != 0) {  // root ignores permissions
    const std::string ro = dir.path() + "/ro";
    fs::create_directory(ro);
    fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
    bad.push_back(ro);
  }
  for (const auto& d : bad) {
    SCOPED_TRACE(d);
    MessageStore s(64, d, 4096);
    ASSERT_TRUE(s.append(std::string(64, 'a')));  // still in memory
    auto st = s.append(std::string(10, 'b'));
    ASSERT_FALSE(st) << "spilling into " << d << " succeeded";
    EXPECT_EQ(st.error().kind, ErrorKind::Io);
    EXPECT_NE(st.error().message.find(d), std::string::npos) << st.error().message;
    EXPECT_FALSE(s.spooled());
    // Still failing, not crashing, on the next append; reset makes it usable.
    EXPECT_FALSE(s.append(std::string(10, 'c')));
    s.reset();
    ASSERT_TRUE(s.append("small"));
    ASSERT_TRUE(s.finish());
    EXPECT_EQ(read_all(s), "small");
  }
  const auto left = dir.entries();
  EXPECT_EQ(left.size(), ::geteuid() != 0 ? 2u : 1u) << "a spool file was left behind";
}

}  // namespace
}  // namespace sigil::filter
