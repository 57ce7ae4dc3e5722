// filter/stages/decode/archives.cpp — see archives.hpp.
#include "filter/stages/decode/archives.hpp"

#include <unistd.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <archive.h>
#include <archive_entry.h>

#include "conf/ascii.hpp"
#include "filter/stages/decode/display.hpp"

namespace sigil::filter::decode {

namespace {

constexpr std::size_t kChunk = 64 * 1024;

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

bool is_raw(archive* a) { return (archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_RAW; }

// A bare compressed stream's one member is named after it: "a.txt.gz" → "a.txt".
std::string raw_member_name(const std::string& container) {
  static const std::pair<std::string_view, std::string_view> kSuffixes[] = {
      {".tgz", ".tar"}, {".tbz2", ".tar"}, {".tbz", ".tar"}, {".txz", ".tar"}, {".tzst", ".tar"},
      {".gz", ""},      {".bz2", ""},      {".xz", ""},      {".zst", ""},     {".lzma", ""},
      {".lz", ""},      {".lz4", ""},      {".z", ""},       {".uu", ""},      {".uue", ""}};
  for (auto& [suf, rep] : kSuffixes)
    if (container.size() > suf.size() && ascii::iends_with(container, suf))
      return container.substr(0, container.size() - suf.size()) + std::string(rep);
  return container;
}

bool mentions_encryption(const char* msg) {
  if (!msg) return false;
  std::string m = ascii::lower(msg);
  return m.find("encrypt") != std::string::npos || m.find("passphrase") != std::string::npos ||
         m.find("password") != std::string::npos;
}

void archive_failed(WalkState& w, archive* a, const std::vector<std::string>& path) {
  const char* msg = archive_error_string(a);
  if (mentions_encryption(msg)) {
    w.unchecked("encrypted archive: " + display(path));
    return;
  }
  std::string why = msg ? shown(std::string_view(msg).substr(0, 120)) : "unreadable";
  w.unchecked("corrupt archive: " + display(path) + " (" + why + ")");
}

// A reader open on `src` (the archive at `path`); null, and the walk
// stopped, when libarchive cannot open it.
ArchivePtr open_archive(WalkState& w, Source& src, const std::vector<std::string>& path) {
  ArchivePtr a = new_reader();
  if (!a) {
    w.unchecked("decode: libarchive unavailable for " + display(path));
    return a;
  }
  int r;
  if (src.file.fd >= 0) {
    ::lseek(src.file.fd, 0, SEEK_SET);
    r = archive_read_open_fd(a.get(), src.file.fd, kChunk);
  } else {
    r = archive_read_open_memory(a.get(), src.mem.data(), src.mem.size());
  }
  if (r != ARCHIVE_OK) {
    archive_failed(w, a.get(), path);
    a.reset();
  }
  return a;
}

// Where an archive's members are: `inside` for them (the formats of the
// containers outside, then this archive's filters outermost first, then its
// format) and their immediate container (the innermost of these).  Known
// once the first header is read.
struct Formats {
  std::string container;
  std::vector<std::string> here;
};

Formats formats_of(archive* a, const std::vector<std::string>& inside) {
  Formats f{"", inside};
  int nf = archive_filter_count(a);
  for (int i = nf - 1; i >= 0; --i)  // index 0 is the filter nearest the format
    if (auto name = filter_name(archive_filter_code(a, i)); !name.empty()) {
      f.here.push_back(name);
      f.container = name;
    }
  if (!is_raw(a)) {
    f.container = format_name(archive_format(a));
    f.here.push_back(f.container);
  }
  return f;
}

// The record of the member `e` of the archive at `path`, before its content is read.
PartInfo member_info(archive* a, archive_entry* e, const std::vector<std::string>& path,
                     const Formats& f, unsigned depth) {
  PartInfo info;
  info.depth = depth;
  info.container = f.container;
  info.inside = f.here;
  if (is_raw(a)) {
    info.name = raw_member_name(path.back());
  } else if (const char* n = archive_entry_pathname_utf8(e)) {
    info.name = n;
  } else if (const char* n2 = archive_entry_pathname(e)) {
    info.name = n2;
  }
  info.path = path;
  info.path.push_back(info.name);
  return info;
}

// Reads the current member's content into a Sink and records it (opening it
// in turn when it is an archive); false, and the walk stopped, when the
// archive at `path` turns out corrupt.
bool read_member(WalkState& w, archive* a, PartInfo info, const std::vector<std::string>& path,
                 unsigned depth) {
  w.quota_where = display(info.path);
  Sink sink(w);
  std::vector<char> buf(kChunk);  // not on the stack: extract() recurses
  bool whole = true;
  for (;;) {
    la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0) {
      info.detected_type = sink.type();
      w.out.parts.push_back(std::move(info));
      archive_failed(w, a, path);
      return false;
    }
    info.size += static_cast<std::uint64_t>(n);
    if (!sink.feed(buf.data(), static_cast<std::size_t>(n))) {
      whole = false;
      break;
    }
  }
  record(w, std::move(info), sink, whole, depth);
  return true;
}

// Lists and reads the members of the archive `src`, whose path is
// `path`, found inside the formats `inside`; members are at `depth`.
void extract(WalkState& w, Source& src, const std::vector<std::string>& path,
             const std::vector<std::string>& inside, unsigned depth) {
  if (w.stop) return;
  ArchivePtr a = open_archive(w, src, path);
  if (!a) return;
  Formats f;
  for (bool first = true; !w.stop; first = false) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return archive_failed(w, a.get(), path);
    if (first) {
      f = formats_of(a.get(), inside);
      if (depth > w.cfg.max_depth)
        return w.unchecked("archive nesting deeper than " + std::to_string(w.cfg.max_depth) +
                           ": " + display(path));
    }
    if (++w.entities > w.cfg.max_parts)
      return w.unchecked("more than " + std::to_string(w.cfg.max_parts) +
                         " MIME parts and archive members: " + display(path));
    PartInfo info = member_info(a.get(), e, path, f, depth);
    if (archive_entry_is_encrypted(e) || archive_read_has_encrypted_entries(a.get()) > 0) {
      w.out.parts.push_back(std::move(info));
      return w.unchecked("encrypted archive: " + display(path));
    }
    if (archive_entry_filetype(e) == AE_IFDIR) continue;  // counted, not recorded
    if (!read_member(w, a.get(), std::move(info), path, depth)) return;
  }
}

}  // namespace

// Format bidders look at the first bytes only, so a truncated head is
// enough; the raw format (which takes anything) counts only with a
// decompression filter under it.
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
  if (is_raw(a.get())) return archive_filter_count(a.get()) > 1;
  return true;  // a real format's bidder won
}

void record(WalkState& w, PartInfo info, Sink& sink, bool whole, unsigned depth) {
  if (whole) sink.finish();
  info.detected_type = sink.type();
  w.out.parts.push_back(std::move(info));
  if (whole && !w.stop && sink.archive()) {
    PartInfo me = w.out.parts.back();  // a copy: extract() appends to out.parts
    extract(w, sink.src, me.path, me.inside, depth + 1);
  }
}

}  // namespace sigil::filter::decode
