// filter/stages/decode/decode_stage.cpp — see decode_stage.hpp.
#include "filter/stages/decode/decode_stage.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <archive.h>
#include <archive_entry.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gmime/gmime.h>
#include <magic.h>
#include <re2/re2.h>

#include "filter/core/policy.hpp"
#include "filter/net/thread_pool.hpp"

namespace sigil::filter {

namespace {

constexpr std::size_t kMagicBytes = 64 * 1024;
constexpr std::size_t kNamesShown = 20;
constexpr std::size_t kNameMax = 200;
constexpr std::size_t kBannedShown = 10;
constexpr std::size_t kChunk = 64 * 1024;

void gmime_once() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

// One libmagic handle per thread, loaded once (magic_t is not thread safe).
struct Magic {
  magic_t m = nullptr;
  bool ok = false;
  Magic() {
    m = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
    if (m && magic_load(m, nullptr) == 0) ok = true;
  }
  ~Magic() {
    if (m) magic_close(m);
  }
  Magic(const Magic&) = delete;
  Magic& operator=(const Magic&) = delete;
};

std::string detect(std::string_view bytes) {
  thread_local Magic magic;
  if (!magic.ok) return "";
  const char* r = magic_buffer(magic.m, bytes.data(), bytes.size());
  return r ? std::string(r) : std::string();
}

template <typename T>
struct GUnref {
  void operator()(T* p) const {
    if (p) g_object_unref(p);
  }
};
template <typename T>
using GPtr = std::unique_ptr<T, GUnref<T>>;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// For the note and reasons: no control bytes, no quotes, bounded.
std::string shown(std::string_view s) {
  std::string o(s.substr(0, kNameMax));
  for (auto& c : o)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '"' || c == '\\') c = '?';
  if (s.size() > kNameMax) o += "...";
  return o;
}

std::string join(const std::vector<std::string>& v, std::size_t n, std::string_view sep) {
  std::string s;
  for (std::size_t i = 0; i < n && i < v.size(); ++i) {
    if (i) s += sep;
    s += v[i];
  }
  return s;
}

// A path for reasons and the note: "invoice.zip/x.exe"; an unnamed MIME
// part shows as "(unnamed)".
std::string display(const std::vector<std::string>& path, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n && i < path.size(); ++i) {
    if (i) s += '/';
    s += path[i].empty() && i == 0 ? "(unnamed)" : path[i];
  }
  return shown(s);
}
std::string display(const std::vector<std::string>& path) { return display(path, path.size()); }

// ------------------------------------------------------------ temp files

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd = o.fd;
      o.fd = -1;
    }
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// The message's private directory: made on first use (mkdtemp: mode 0700),
// removed with whatever is left in it by the destructor.  Files are
// unlinked as soon as they are made, so it is normally empty.
class TempDir {
 public:
  explicit TempDir(std::string base) : base_(std::move(base)) {
    if (base_.empty()) {
      const char* t = std::getenv("TMPDIR");
      base_ = t && *t == '/' ? t : "/tmp";
    }
  }
  ~TempDir() {
    if (path_.empty()) return;
    if (DIR* d = ::opendir(path_.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string_view n = e->d_name;
        if (n == "." || n == "..") continue;
        ::unlinkat(::dirfd(d), e->d_name, 0);
      }
      ::closedir(d);
    }
    ::rmdir(path_.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // A new, already unlinked file open for reading and writing; fd -1 and
  // `why` on failure.
  Fd file(std::string& why) {
    if (path_.empty() && !failed_) {
      std::string t = base_ + "/sigil-decode-XXXXXX";
      if (::mkdtemp(t.data())) path_ = t;
      else failed_ = true;
    }
    if (path_.empty()) {
      why = "cannot create a temporary directory in " + base_;
      return Fd{};
    }
    std::string t = path_ + "/a-XXXXXX";
    int fd = ::mkostemp(t.data(), O_CLOEXEC);
    if (fd < 0) {
      why = "cannot create a temporary file in " + path_;
      return Fd{};
    }
    ::unlink(t.c_str());
    return Fd{fd};
  }

 private:
  std::string base_;
  std::string path_;
  bool failed_ = false;
};

bool write_all(int fd, const char* p, std::size_t n) {
  while (n) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// ------------------------------------------------------------ libarchive

struct ArchiveFree {
  void operator()(archive* a) const {
    if (a) archive_read_free(a);
  }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveFree>;

// libarchive's "all", minus mtree (a spec that names files of this host's
// file system) and the filters that run external programs.
ArchivePtr new_reader() {
  ArchivePtr a(archive_read_new());
  if (!a) return a;
  archive* r = a.get();
  archive_read_support_filter_bzip2(r);
  archive_read_support_filter_compress(r);
  archive_read_support_filter_gzip(r);
  archive_read_support_filter_lzip(r);
  archive_read_support_filter_lzma(r);
  archive_read_support_filter_xz(r);
  archive_read_support_filter_zstd(r);
  archive_read_support_filter_lz4(r);
  archive_read_support_filter_uu(r);
  archive_read_support_filter_rpm(r);
  archive_read_support_format_7zip(r);
  archive_read_support_format_ar(r);
  archive_read_support_format_cab(r);
  archive_read_support_format_cpio(r);
  archive_read_support_format_iso9660(r);
  archive_read_support_format_lha(r);
  archive_read_support_format_rar(r);
  archive_read_support_format_rar5(r);
  archive_read_support_format_tar(r);
  archive_read_support_format_xar(r);
  archive_read_support_format_zip(r);
  archive_read_support_format_raw(r);  // bare compressed streams (foo.gz)
  return a;
}

std::string format_name(int code) {
  switch (code & ARCHIVE_FORMAT_BASE_MASK) {
    case ARCHIVE_FORMAT_CPIO: return "cpio";
    case ARCHIVE_FORMAT_TAR: return "tar";
    case ARCHIVE_FORMAT_ISO9660: return "iso9660";
    case ARCHIVE_FORMAT_ZIP: return "zip";
    case ARCHIVE_FORMAT_AR: return "ar";
    case ARCHIVE_FORMAT_XAR: return "xar";
    case ARCHIVE_FORMAT_LHA: return "lha";
    case ARCHIVE_FORMAT_CAB: return "cab";
    case ARCHIVE_FORMAT_RAR: return "rar";
    case ARCHIVE_FORMAT_RAR_V5: return "rar";
    case ARCHIVE_FORMAT_7ZIP: return "7z";
    case ARCHIVE_FORMAT_RAW: return "raw";
    default: return "archive";
  }
}

std::string filter_name(int code) {
  switch (code) {
    case ARCHIVE_FILTER_GZIP: return "gzip";
    case ARCHIVE_FILTER_BZIP2: return "bzip2";
    case ARCHIVE_FILTER_COMPRESS: return "compress";
    case ARCHIVE_FILTER_LZMA: return "lzma";
    case ARCHIVE_FILTER_XZ: return "xz";
    case ARCHIVE_FILTER_UU: return "uu";
    case ARCHIVE_FILTER_RPM: return "rpm";
    case ARCHIVE_FILTER_LZIP: return "lzip";
    case ARCHIVE_FILTER_LZ4: return "lz4";
    case ARCHIVE_FILTER_ZSTD: return "zstd";
    default: return "";
  }
}

// Whether libarchive sees an archive or a compressed stream in `head` (the
// first 64 KiB of some content, or all of it).  Format bidders look at the
// first bytes only, so a truncated head is enough; the raw format (which
// takes anything) counts only with a decompression filter under it.
bool is_archive(std::string_view head) {
  if (head.empty()) return false;
  ArchivePtr a = new_reader();
  if (!a) return false;
  // The raw format takes anything, so a failed open means that a filter
  // recognised its magic but could not decode the start (a truncated or
  // corrupt stream): an archive, reported corrupt when read.
  if (archive_read_open_memory(a.get(), head.data(), head.size()) != ARCHIVE_OK) return true;
  archive_entry* e = nullptr;
  (void)archive_read_next_header(a.get(), &e);  // may fail on a truncated head
  if ((archive_format(a.get()) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_RAW)
    return archive_filter_count(a.get()) > 1;
  return true;  // a real format's bidder won
}

// A bare compressed stream's one member is named after it: "a.txt.gz" → "a.txt".
std::string raw_member_name(const std::string& container) {
  static const std::pair<std::string_view, std::string_view> kSuffixes[] = {
      {".tgz", ".tar"}, {".tbz2", ".tar"}, {".tbz", ".tar"}, {".txz", ".tar"}, {".tzst", ".tar"},
      {".gz", ""},      {".bz2", ""},      {".xz", ""},      {".zst", ""},     {".lzma", ""},
      {".lz", ""},      {".lz4", ""},      {".z", ""},       {".uu", ""},      {".uue", ""}};
  for (auto& [suf, rep] : kSuffixes)
    if (container.size() > suf.size() &&
        iequals(std::string_view(container).substr(container.size() - suf.size()), suf))
      return container.substr(0, container.size() - suf.size()) + std::string(rep);
  return container;
}

bool mentions_encryption(const char* msg) {
  if (!msg) return false;
  std::string m(msg);
  for (auto& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return m.find("encrypt") != std::string::npos || m.find("passphrase") != std::string::npos ||
         m.find("password") != std::string::npos;
}

// Content to open with libarchive: in memory, or a temporary file.
struct Source {
  std::string mem;
  Fd file;
};

// ------------------------------------------------------------ the walk

struct Walker;

// Takes one part's or member's content chunk by chunk: counts it against
// the quota, keeps the first 64 KiB for libmagic and the archive probe, and
// once the probe says "archive" writes everything to a temporary file
// (content of at most 64 KiB stays in memory).
struct Sink {
  Walker& w;
  std::string head;
  enum class State { Unknown, Plain, Archive } state = State::Unknown;
  Source src;
  std::string detected;
  bool typed = false;

  explicit Sink(Walker& walker) : w(walker) {}
  bool feed(const char* p, std::size_t n);  // false: stop reading (limit or error)
  void finish();                            // at the end of the content
  const std::string& type() {
    if (!typed) {
      detected = detect(std::string_view(head).substr(0, kMagicBytes));
      typed = true;
    }
    return detected;
  }
  bool archive() const { return state == State::Archive; }

 private:
  void decide(bool complete);
};

// RFC 2045 §5.1 token: printable US-ASCII without space and tspecials.
bool mime_token(std::string_view t) {
  if (t.empty()) return false;
  for (char c : t) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || std::string_view("()<>@,;:\\\"/[]?=").find(c) != std::string_view::npos)
      return false;
  }
  return true;
}

// The value without RFC 5322 comments and surrounding white space (comments
// are allowed in MIME fields, RFC 2045 §3); nested comments handled.
std::string strip_comments(std::string_view v) {
  std::string o;
  int depth = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (quoted) {
      o += c;
      if (c == '\\' && i + 1 < v.size()) o += v[++i];
      else if (c == '"') quoted = false;
    } else if (depth > 0) {
      if (c == '\\') ++i;
      else if (c == '(') ++depth;
      else if (c == ')') --depth;
    } else if (c == '(') {
      depth = 1;
    } else {
      if (c == '"') quoted = true;
      o += c;
    }
  }
  std::size_t a = o.find_first_not_of(" \t\r\n"), b = o.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? std::string() : o.substr(a, b - a + 1);
}

// What is wrong with an entity's MIME fields (RFC 2045), or "" when nothing.
std::string mime_header_problem(GMimeObject* obj, bool multipart) {
  if (const char* ct = g_mime_object_get_header(obj, "Content-Type")) {
    std::string v = strip_comments(ct);
    std::string_view tv(v);
    tv = tv.substr(0, tv.find(';'));
    while (!tv.empty() && (tv.back() == ' ' || tv.back() == '\t')) tv.remove_suffix(1);
    auto slash = tv.find('/');
    auto trim_ws = [](std::string_view x) {
      while (!x.empty() && (x.front() == ' ' || x.front() == '\t')) x.remove_prefix(1);
      while (!x.empty() && (x.back() == ' ' || x.back() == '\t')) x.remove_suffix(1);
      return x;
    };
    if (slash == std::string_view::npos || !mime_token(trim_ws(tv.substr(0, slash))) ||
        !mime_token(trim_ws(tv.substr(slash + 1))))
      return "invalid Content-Type '" + shown(ct) + "'";
  }
  if (const char* cte = g_mime_object_get_header(obj, "Content-Transfer-Encoding")) {
    std::string v = strip_comments(cte);
    for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    bool identity = v == "7bit" || v == "8bit" || v == "binary";
    bool known = identity || v == "quoted-printable" || v == "base64" || (v.rfind("x-", 0) == 0 && mime_token(v));
    if (!known) return "invalid Content-Transfer-Encoding '" + shown(cte) + "'";
    // RFC 2045 §6.4: a multipart or message entity is never encoded.
    if (multipart && !identity) return "Content-Transfer-Encoding '" + shown(cte) + "' on a multipart";
  }
  return "";
}

struct Walker {
  const conf::DecodeConfig& cfg;
  DecodeResult& out;
  TempDir& tmp;
  std::uint64_t quota = 0;
  std::size_t entities = 0;
  bool stop = false;
  std::optional<std::chrono::steady_clock::time_point> stop_at;

  // True (and the walk stopped) once the stage's time is up.
  bool late() {
    if (!stop_at || std::chrono::steady_clock::now() < *stop_at) return false;
    if (!stop) unchecked("decode time limit reached after " + std::to_string(entities) + " parts");
    return true;
  }

  void unchecked(std::string reason) {
    out.findings.push_back({conf::Category::Unchecked, std::move(reason), "decode"});
    out.complete = false;
    stop = true;
  }

  // Counts n more decoded or unpacked bytes; false once past the quota.
  std::string quota_where;  // the path being read, for the reason
  bool count(std::size_t n) {
    out.expanded += n;
    if (late()) return false;
    if (out.expanded <= quota) return true;
    if (!stop)
      unchecked("expansion quota of " + std::to_string(quota) + " bytes exceeded in " +
                quota_where);
    return false;
  }

  // bad-header findings for invalid MIME fields, at most kMimeProblems.
  static constexpr std::size_t kMimeProblems = 5;
  std::size_t mime_problems = 0;
  void check_mime_header(GMimeObject* obj) {
    std::string p = mime_header_problem(obj, GMIME_IS_MULTIPART(obj) || GMIME_IS_MESSAGE_PART(obj));
    if (p.empty() || mime_problems++ >= kMimeProblems) return;
    out.findings.push_back({conf::Category::BadHeader,
                            p + " in MIME part " + std::to_string(entities + 1), "decode"});
  }

  void walk(GMimeObject* obj, unsigned depth) {
    if (stop || !obj || late()) return;
    check_mime_header(obj);
    if (depth > cfg.max_depth) {
      unchecked("MIME nesting deeper than " + std::to_string(cfg.max_depth));
      return;
    }
    if (++entities > cfg.max_parts) {
      unchecked("more than " + std::to_string(cfg.max_parts) + " MIME parts");
      return;
    }
    if (GMIME_IS_MULTIPART(obj)) {
      // The duplicate-boundary trick: parsers disagree on which one counts.
      int boundaries = 0;
      if (GMimeContentType* ct = g_mime_object_get_content_type(obj))
        if (GMimeParamList* pl = g_mime_content_type_get_parameters(ct)) {
          int n = g_mime_param_list_length(pl);
          for (int i = 0; i < n; ++i) {
            const char* name = g_mime_param_get_name(g_mime_param_list_get_parameter_at(pl, i));
            if (name && iequals(name, "boundary")) ++boundaries;
          }
        }
      if (boundaries == 0 || !g_mime_multipart_get_boundary(GMIME_MULTIPART(obj))) {
        unchecked("multipart without a boundary parameter");
        return;
      }
      if (boundaries > 1) {
        unchecked("multipart with " + std::to_string(boundaries) + " boundary parameters");
        return;
      }
      auto* mp = GMIME_MULTIPART(obj);
      int n = g_mime_multipart_get_count(mp);
      for (int i = 0; i < n && !stop; ++i) walk(g_mime_multipart_get_part(mp, i), depth + 1);
      return;
    }
    if (GMIME_IS_MESSAGE_PART(obj)) {
      GMimeMessage* m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
      if (m) walk(g_mime_message_get_mime_part(m), depth + 1);
      return;
    }
    if (GMIME_IS_PART(obj)) leaf(GMIME_PART(obj), depth);
  }

  void leaf(GMimePart* part, unsigned depth) {
    PartInfo info;
    info.depth = depth;
    if (GMimeContentType* ct = g_mime_object_get_content_type(GMIME_OBJECT(part))) {
      char* t = g_mime_content_type_get_mime_type(ct);
      if (t) {
        info.declared_type = t;
        g_free(t);
      }
      for (auto& c : info.declared_type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (const char* fn = g_mime_part_get_filename(part)) info.name = fn;
    info.path.push_back(info.name);
    quota_where = display(info.path);

    Sink sink(*this);
    bool whole = true;
    if (GMimeDataWrapper* w = g_mime_part_get_content(part)) {
      GMimeStream* raw = g_mime_data_wrapper_get_stream(w);
      if (raw) {
        g_mime_stream_reset(raw);
        GPtr<GMimeStream> filtered(g_mime_stream_filter_new(raw));
        auto enc = g_mime_data_wrapper_get_encoding(w);
        if (enc == GMIME_CONTENT_ENCODING_BASE64 || enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
            enc == GMIME_CONTENT_ENCODING_UUENCODE) {
          GPtr<GMimeFilter> f(g_mime_filter_basic_new(enc, FALSE));
          if (f) g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered.get()), f.get());
        }
        std::array<char, 16384> buf;
        for (;;) {
          ssize_t n = g_mime_stream_read(filtered.get(), buf.data(), buf.size());
          if (n <= 0) break;
          info.size += static_cast<std::uint64_t>(n);
          if (!sink.feed(buf.data(), static_cast<std::size_t>(n))) {
            whole = false;
            break;
          }
        }
      }
    }
    record(std::move(info), sink, whole, depth);
  }

  // A part read to its end (`whole`) or not: its detected type, its record,
  // and its members when it is an archive.
  void record(PartInfo info, Sink& sink, bool whole, unsigned depth) {
    if (whole) sink.finish();
    info.detected_type = sink.type();
    out.parts.push_back(std::move(info));
    if (whole && !stop && sink.archive()) {
      PartInfo me = out.parts.back();  // a copy: extract() appends to out.parts
      extract(sink.src, me.path, me.inside, depth + 1);
    }
  }

  void archive_failed(archive* a, const std::vector<std::string>& path) {
    const char* msg = archive_error_string(a);
    if (mentions_encryption(msg)) {
      unchecked("encrypted archive: " + display(path));
      return;
    }
    std::string why = msg ? shown(std::string_view(msg).substr(0, 120)) : "unreadable";
    unchecked("corrupt archive: " + display(path) + " (" + why + ")");
  }

  // Lists and reads the members of the archive `src`, whose path is
  // `path`, found inside the formats `inside`; members are at `depth`.
  void extract(Source& src, const std::vector<std::string>& path,
               const std::vector<std::string>& inside, unsigned depth) {
    if (stop) return;
    ArchivePtr a = new_reader();
    if (!a) {
      unchecked("decode: libarchive unavailable for " + display(path));
      return;
    }
    int r;
    if (src.file.fd >= 0) {
      ::lseek(src.file.fd, 0, SEEK_SET);
      r = archive_read_open_fd(a.get(), src.file.fd, kChunk);
    } else {
      r = archive_read_open_memory(a.get(), src.mem.data(), src.mem.size());
    }
    if (r != ARCHIVE_OK) {
      archive_failed(a.get(), path);
      return;
    }
    std::string container;
    std::vector<std::string> here;  // `inside` for this archive's members
    for (bool first = true; !stop; first = false) {
      archive_entry* e = nullptr;
      r = archive_read_next_header(a.get(), &e);
      if (r == ARCHIVE_EOF) break;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
        archive_failed(a.get(), path);
        return;
      }
      if (first) {
        here = inside;
        int nf = archive_filter_count(a.get());
        for (int i = nf - 1; i >= 0; --i)  // index 0 is the filter nearest the format
          if (auto f = filter_name(archive_filter_code(a.get(), i)); !f.empty()) {
            here.push_back(f);
            container = f;
          }
        int fmt = archive_format(a.get());
        if ((fmt & ARCHIVE_FORMAT_BASE_MASK) != ARCHIVE_FORMAT_RAW) {
          container = format_name(fmt);
          here.push_back(container);
        }
        if (depth > cfg.max_depth) {
          unchecked("archive nesting deeper than " + std::to_string(cfg.max_depth) + ": " +
                    display(path));
          return;
        }
      }
      if (++entities > cfg.max_parts) {
        unchecked("more than " + std::to_string(cfg.max_parts) +
                  " MIME parts and archive members: " + display(path));
        return;
      }
      PartInfo info;
      info.depth = depth;
      info.container = container;
      info.inside = here;
      if ((archive_format(a.get()) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_RAW) {
        info.name = raw_member_name(path.back());
      } else if (const char* n = archive_entry_pathname_utf8(e)) {
        info.name = n;
      } else if (const char* n2 = archive_entry_pathname(e)) {
        info.name = n2;
      }
      info.path = path;
      info.path.push_back(info.name);
      if (archive_entry_is_encrypted(e) || archive_read_has_encrypted_entries(a.get()) > 0) {
        out.parts.push_back(std::move(info));
        unchecked("encrypted archive: " + display(path));
        return;
      }
      if (archive_entry_filetype(e) == AE_IFDIR) continue;  // counted, not recorded
      quota_where = display(info.path);
      Sink sink(*this);
      std::vector<char> buf(kChunk);  // not on the stack: extract() recurses
      bool whole = true;
      for (;;) {
        la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
        if (n == 0) break;
        if (n < 0) {
          info.detected_type = sink.type();
          out.parts.push_back(std::move(info));
          archive_failed(a.get(), path);
          return;
        }
        info.size += static_cast<std::uint64_t>(n);
        if (!sink.feed(buf.data(), static_cast<std::size_t>(n))) {
          whole = false;
          break;
        }
      }
      record(std::move(info), sink, whole, depth);
    }
  }
};

bool Sink::feed(const char* p, std::size_t n) {
  if (!w.count(n)) return false;
  switch (state) {
    case State::Unknown:
      head.append(p, n);
      if (head.size() >= kMagicBytes) decide(false);
      return !w.stop;
    case State::Plain: return true;
    case State::Archive:
      if (write_all(src.file.fd, p, n)) return true;
      w.unchecked("decode: cannot write a temporary file for " + w.quota_where);
      return false;
  }
  return true;
}

void Sink::finish() {
  if (state == State::Unknown) decide(true);
}

void Sink::decide(bool complete) {
  type();
  if (!is_archive(head)) {
    state = State::Plain;
    head.clear();
    head.shrink_to_fit();
    return;
  }
  state = State::Archive;
  if (complete) {
    src.mem = std::move(head);
    head.clear();
    return;
  }
  std::string why;
  src.file = w.tmp.file(why);
  if (src.file.fd < 0 || !write_all(src.file.fd, head.data(), head.size())) {
    w.unchecked("decode: " + (why.empty() ? "cannot write a temporary file" : why) + " for " +
                w.quota_where);
    return;
  }
  head.clear();
  head.shrink_to_fit();
}

void header_checks(const MessageStore& message, const Envelope& env, DecodeResult& out) {
  const HeaderIndex& h = message.headers();
  auto bad = [&](std::string reason) {
    out.findings.push_back({conf::Category::BadHeader, std::move(reason), "decode"});
  };
  if (!env.smtputf8) {
    const std::string& b = h.block();
    if (std::any_of(b.begin(), b.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; }))
      bad("8-bit bytes in the header without SMTPUTF8");
  }
  std::size_t from = 0, date = 0, subject = 0;
  for (const auto& f : h.fields()) {
    auto n = h.name(f);
    while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.remove_suffix(1);
    if (iequals(n, "From")) ++from;
    else if (iequals(n, "Date")) ++date;
    else if (iequals(n, "Subject")) ++subject;
  }
  if (from == 0) bad("missing From");
  if (date == 0) bad("missing Date");
  if (from > 1) bad("duplicate From");
  if (date > 1) bad("duplicate Date");
  if (subject > 1) bad("duplicate Subject");
}

void check_banned(DecodeResult& out, const BannedRules& rules) {
  std::size_t banned = 0;
  for (const auto& p : out.parts) {
    auto d = rules.decide(p);
    if (!d || !d->ban) continue;
    if (++banned > kBannedShown) continue;
    std::string r = "banned " + d->what;
    if (d->what.rfind("name ", 0) != 0 && !p.name.empty()) r += " of '" + shown(p.name) + "'";
    if (p.path.size() > 1) r += " in " + display(p.path, p.path.size() - 1);
    r += " (rule " + std::to_string(d->rule) + " of " + rules.name() + ")";
    out.findings.push_back({conf::Category::Banned, std::move(r), "decode"});
  }
  if (banned > kBannedShown)
    out.findings.push_back({conf::Category::Banned,
                            std::to_string(banned - kBannedShown) + " more banned parts", "decode"});
}

std::string make_note(const DecodeResult& r) {
  std::string s = std::to_string(r.parts.size()) + (r.parts.size() == 1 ? " part" : " parts");
  std::vector<std::string> names;
  for (const auto& p : r.parts)
    if (!p.name.empty()) names.push_back(p.path.size() > 1 ? display(p.path) : shown(p.name));
  if (!names.empty()) {
    s += "; names: ";
    for (std::size_t i = 0; i < names.size() && i < kNamesShown; ++i) {
      if (i) s += ", ";
      s += names[i];
    }
    if (names.size() > kNamesShown) s += ", ... (" + std::to_string(names.size()) + " names)";
  }
  if (!r.complete) s += "; incomplete";
  return s;
}

// max(min_quota, size * min_factor, min(max_quota, size * max_factor)),
// Amavis's rule: small messages get at least min_quota, big ones are capped
// near max_quota.
std::uint64_t expansion_quota(const conf::DecodeConfig& cfg, std::uint64_t size) {
  auto mul = [](std::uint64_t a, std::uint64_t b) {
    return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
  };
  std::uint64_t floor = std::max(cfg.min_expansion_quota, mul(size, cfg.min_expansion_factor));
  std::uint64_t cap = std::min(cfg.max_expansion_quota, mul(size, cfg.max_expansion_factor));
  return std::max(floor, cap);
}

}  // namespace

// ------------------------------------------------------------ banned rules

struct BannedRules::Impl {
  struct Rule {
    bool ban = true;
    std::unique_ptr<RE2> name, type, detected, path, inside;
  };
  std::string set_name;
  std::vector<Rule> rules;
};

BannedRules::BannedRules(const conf::BannedRuleSet& set) : impl_(std::make_unique<Impl>()) {
  impl_->set_name = set.name;
  RE2::Options o;
  o.set_case_sensitive(false);
  o.set_log_errors(false);
  std::size_t i = 0;
  for (const auto& r : set.rules) {
    ++i;
    Impl::Rule c;
    c.ban = r.action == conf::BannedRule::Action::Ban;
    auto compile = [&](const std::optional<std::string>& re, std::unique_ptr<RE2>& outp) {
      if (!re) return;
      outp = std::make_unique<RE2>(*re, o);
      if (!outp->ok())
        throw std::runtime_error("banned." + set.name + " rule " + std::to_string(i) +
                                 ": bad regex '" + *re + "': " + outp->error());
    };
    compile(r.name, c.name);
    compile(r.type, c.type);
    compile(r.detected, c.detected);
    compile(r.path, c.path);
    compile(r.inside, c.inside);
    impl_->rules.push_back(std::move(c));
  }
}

BannedRules::~BannedRules() = default;

const std::string& BannedRules::name() const { return impl_->set_name; }

std::optional<BannedRules::Decision> BannedRules::decide(const PartInfo& p) const {
  std::string full = join(p.path, p.path.size(), "/");
  std::size_t i = 0;
  for (const auto& r : impl_->rules) {
    ++i;
    std::string what;
    auto note = [&what](const char* kind, std::string_view v) {
      if (what.empty()) what = std::string(kind) + " '" + shown(v) + "'";
    };
    if (r.name) {
      if (!RE2::PartialMatch(p.name, *r.name)) continue;
      note("name", p.name);
    }
    if (r.type) {
      if (!RE2::PartialMatch(p.declared_type, *r.type)) continue;
      note("type", p.declared_type);
    }
    if (r.detected) {
      if (!RE2::PartialMatch(p.detected_type, *r.detected)) continue;
      note("detected type", p.detected_type);
    }
    if (r.path) {
      if (!RE2::PartialMatch(full, *r.path)) continue;
      note("path", full);
    }
    if (r.inside) {
      auto it = std::find_if(p.inside.begin(), p.inside.end(),
                             [&](const std::string& f) { return RE2::PartialMatch(f, *r.inside); });
      if (it == p.inside.end()) continue;
      note("content inside", *it);
    }
    return Decision{r.ban, i, std::move(what)};
  }
  return std::nullopt;
}

BannedSets compile_banned(const std::map<std::string, conf::BannedRuleSet>& sets) {
  BannedSets out;
  for (const auto& [name, set] : sets) out.emplace(name, std::make_shared<const BannedRules>(set));
  if (!out.count("default"))
    out.emplace("default", std::make_shared<const BannedRules>(conf::default_banned_rules()));
  return out;
}

// ------------------------------------------------------------ the stage

DecodeResult decode_message(const MessageStore& message, const Envelope& envelope,
                            const conf::DecodeConfig& cfg, const BannedRules* banned,
                            std::optional<std::chrono::steady_clock::time_point> stop_at) {
  gmime_once();
  DecodeResult out;
  header_checks(message, envelope, out);

  GPtr<GMimeStream> stream;
  if (message.spooled()) {
    int fd = ::dup(message.spool_fd());
    if (fd < 0) {
      out.findings.push_back({conf::Category::Unchecked, "decode: cannot read the spool file", "decode"});
      out.complete = false;
      out.note = make_note(out);
      return out;
    }
    // Bounds from 0: the spool fd's offset is at its end after writing.
    stream.reset(g_mime_stream_fs_new_with_bounds(fd, 0, -1));  // owns fd
  } else {
    auto mem = message.in_memory();
    stream.reset(g_mime_stream_mem_new_with_buffer(mem.data(), mem.size()));
  }
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  GPtr<GMimeMessage> msg(g_mime_parser_construct_message(parser.get(), nullptr));
  if (!msg) {
    out.findings.push_back({conf::Category::Unchecked, "decode: not a parsable message", "decode"});
    out.complete = false;
  } else {
    TempDir tmp(cfg.temp_dir);  // removed at the end of this block, whatever happens
    Walker w{cfg, out, tmp};
    w.quota = expansion_quota(cfg, message.size());
    w.stop_at = stop_at;
    w.walk(g_mime_message_get_mime_part(msg.get()), 0);
  }
  if (banned) check_banned(out, *banned);
  out.note = make_note(out);
  return out;
}

namespace {

struct DecodePoolTag;

struct DecodeJob {
  const MessageStore* message;
  const Envelope* envelope;
  const conf::DecodeConfig* cfg;
  const BannedRules* banned;
  std::chrono::steady_clock::time_point stop_at;
};

// Runs on the decode pool.  What it points to lives on: the pipeline waits
// for the stage even past its deadline (operator|| waits for both sides),
// and the walk stops itself at stop_at.
boost::asio::awaitable<DecodeResult> decode_on_pool(DecodeJob j) {
  co_return decode_message(*j.message, *j.envelope, *j.cfg, j.banned, j.stop_at);
}

}  // namespace

DecodeStage::DecodeStage(conf::DecodeConfig cfg, BannedSets sets)
    : cfg_(std::move(cfg)), sets_(std::move(sets)) {
  threads_ = cfg_.threads.value_or(std::max(1u, std::thread::hardware_concurrency()));
  deadline = std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.timeout);
}

boost::asio::awaitable<Verdict> DecodeStage::run(MessageContext& ctx) {
  const BannedRules* rules = nullptr;
  std::string_view set = ctx.policy ? std::string_view(ctx.policy->banned_rules) : "default";
  if (set != "none") {
    auto it = sets_.find(set);
    if (it == sets_.end()) it = sets_.find("default");  // the loader refuses unknown names
    if (it != sets_.end()) rules = it->second.get();
  }
  auto stop_at = std::chrono::steady_clock::now() + deadline;
  if (ctx.budget_end && *ctx.budget_end < stop_at) stop_at = *ctx.budget_end;
  DecodeResult r;
  if (threads_ > 0) {
    DecodeJob job{&ctx.message, &ctx.envelope, &cfg_, rules, stop_at};
    r = co_await boost::asio::co_spawn(process_pool<DecodePoolTag>(threads_)->get_executor(), decode_on_pool(job),
                                       boost::asio::use_awaitable);
  } else {
    r = decode_message(ctx.message, ctx.envelope, cfg_, rules, stop_at);
  }
  for (auto& f : r.findings) ctx.findings.push_back(std::move(f));
  ctx.notes.emplace_back("decode", r.note);
  co_return Verdict{};
}

}  // namespace sigil::filter
