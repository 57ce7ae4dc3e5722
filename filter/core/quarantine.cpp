// filter/core/quarantine.cpp — see quarantine.hpp.
#include "filter/core/quarantine.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <stdexcept>

namespace sigil::filter::quarantine {

namespace {

constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz234567";
constexpr std::size_t kIdLength = 16;  // 16 × 5 = 80 bits
constexpr std::size_t kMaxMeta = 1024 * 1024;

std::string one_line(std::string_view s) {
  std::string o(s);
  for (auto& c : o)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return o;
}

// A header field on one metadata line, and back (quarantine.hpp).
std::string escape_field(std::string_view f) {
  std::string o;
  o.reserve(f.size() + 8);
  for (char c : f) {
    switch (c) {
      case '\\': o += "\\\\"; break;
      case '\r': o += "\\r"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      default: o += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    }
  }
  return o;
}

std::string unescape_field(std::string_view v) {
  std::string o;
  o.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '\\' || i + 1 == v.size()) {
      o += v[i];
      continue;
    }
    char n = v[++i];
    o += n == 'r' ? '\r' : n == 'n' ? '\n' : n == 't' ? '\t' : n;
  }
  return o;
}

std::vector<std::size_t> parse_indices(std::string_view v) {
  std::vector<std::size_t> out;
  std::size_t pos = 0;
  while (pos < v.size()) {
    auto sp = v.find(' ', pos);
    if (sp == std::string_view::npos) sp = v.size();
    try {
      out.push_back(std::stoull(std::string(v.substr(pos, sp - pos))));
    } catch (...) {  // a hand-edited file: the index is skipped
    }
    pos = sp + 1;
  }
  return out;
}

std::string params_text(const std::vector<Param>& ps) {
  std::string o;
  for (auto& p : ps) {
    if (!o.empty()) o += ' ';
    o += p.key + (p.has_value ? "=" + p.value : "");
  }
  return one_line(o);
}

std::vector<Param> parse_params(std::string_view s) {
  std::vector<Param> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    auto sp = s.find(' ', pos);
    if (sp == std::string_view::npos) sp = s.size();
    auto tok = s.substr(pos, sp - pos);
    if (!tok.empty()) {
      Param p;
      auto eq = tok.find('=');
      p.key = std::string(tok.substr(0, eq));
      if (eq != std::string_view::npos) {
        p.value = std::string(tok.substr(eq + 1));
        p.has_value = true;
      }
      out.push_back(std::move(p));
    }
    pos = sp + 1;
  }
  return out;
}

// "addr\tPARAMS" → address and parameters.
void split_path(std::string_view v, std::string& addr, std::vector<Param>& params) {
  auto tab = v.find('\t');
  addr = std::string(v.substr(0, tab));
  if (tab != std::string_view::npos) params = parse_params(v.substr(tab + 1));
}

std::string rfc5322_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

std::string meta_block(const Entry& m, std::uint64_t size) {
  std::string o = "Sigil-Quarantine: 1\r\n";
  o += "Id: " + m.id + "\r\n";
  o += "Log-Id: " + one_line(m.log_id) + "\r\n";
  o += "Time: " + (m.time.empty() ? rfc5322_now() : one_line(m.time)) + "\r\n";
  o += "Category: " + one_line(m.category) + "\r\n";
  o += "Client: " + one_line(m.client) + "\r\n";
  o += "Mail-From: " + one_line(m.envelope.sender);
  if (!m.envelope.mail_params.empty()) o += "\t" + params_text(m.envelope.mail_params);
  o += "\r\n";
  for (auto& r : m.envelope.recipients) {
    o += "Rcpt-To: " + one_line(r.address);
    if (!r.params.empty()) o += "\t" + params_text(r.params);
    o += "\r\n";
  }
  o += std::string("Smtputf8: ") + (m.envelope.smtputf8 ? "yes" : "no") + "\r\n";
  o += std::string("Body-8bit: ") + (m.envelope.body_8bit ? "yes" : "no") + "\r\n";
  if (!m.edits.remove.empty()) {
    o += "Header-Remove:";
    for (auto i : m.edits.remove) o += " " + std::to_string(i);
    o += "\r\n";
  }
  for (auto& f : m.edits.prepend) o += "Header-Add: " + escape_field(f) + "\r\n";
  o += "Size: " + std::to_string(size) + "\r\n\r\n";
  return o;
}

Error io_error(const std::string& what, const std::string& path, int err) {
  return make_error(ErrorKind::Io, what + " " + path + ": " + std::strerror(err));
}

// A writer to a plain fd or through zlib.
class Writer {
 public:
  Writer(int fd, bool gzip) : fd_(fd) {
    if (gzip) {
      gz_ = gzdopen(fd, "wb6");
      if (gz_) fd_ = -1;  // gzclose closes it
    }
  }
  ~Writer() {
    if (gz_) gzclose(gz_);
    if (fd_ >= 0) ::close(fd_);
  }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  bool failed_open(bool gzip) const { return gzip && !gz_; }
  bool write(const char* p, std::size_t n) {
    if (gz_) return n == 0 || gzwrite(gz_, p, static_cast<unsigned>(n)) == static_cast<int>(n);
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }
  // Flushes and fsyncs; the fd stays open until destruction for a plain file.
  bool finish(int raw_fd) {
    if (gz_) {
      // gzclose closes raw_fd: fsync through a dup first.
      int d = ::dup(raw_fd);
      bool ok = gzclose(gz_) == Z_OK;
      gz_ = nullptr;
      if (d < 0) return false;
      ok = ::fsync(d) == 0 && ok;
      ::close(d);
      return ok;
    }
    return ::fsync(fd_) == 0;
  }

 private:
  int fd_ = -1;
  gzFile gz_ = nullptr;
};

struct GzCloser {
  void operator()(gzFile_s* f) const {
    if (f) gzclose(f);
  }
};

std::string file_of(const std::string& dir, std::string_view id, bool& found) {
  std::string plain = dir + "/" + std::string(id);
  struct stat st {};
  found = true;
  if (::stat(plain.c_str(), &st) == 0) return plain;
  if (::stat((plain + ".gz").c_str(), &st) == 0) return plain + ".gz";
  found = false;
  return plain;
}

// Reads the metadata block (and the rest when `message`).
Result<Entry> read_file(const std::string& path, std::string* message) {
  std::unique_ptr<gzFile_s, GzCloser> gz(gzopen(path.c_str(), "rb"));
  if (!gz) return io_error("cannot open", path, errno ? errno : EIO);
  std::string meta;
  std::array<char, 65536> buf;
  std::size_t sep = std::string::npos;
  std::string rest;
  for (;;) {
    int n = gzread(gz.get(), buf.data(), static_cast<unsigned>(buf.size()));
    if (n < 0) return make_error(ErrorKind::Io, "cannot read " + path + ": corrupt or truncated");
    if (n == 0) break;
    if (sep == std::string::npos) {
      meta.append(buf.data(), static_cast<std::size_t>(n));
      sep = meta.find("\r\n\r\n");
      if (sep != std::string::npos) {
        rest = meta.substr(sep + 4);
        meta.resize(sep + 2);
        if (!message) break;
      } else if (meta.size() > kMaxMeta) {
        break;
      }
    } else {
      rest.append(buf.data(), static_cast<std::size_t>(n));
    }
  }
  if (sep == std::string::npos || meta.rfind("Sigil-Quarantine: 1\r\n", 0) != 0)
    return make_error(ErrorKind::Protocol, path + " is not a Sigil quarantine file");
  Entry e;
  e.path = path;
  std::size_t pos = 0;
  while (pos < meta.size()) {
    auto eol = meta.find("\r\n", pos);
    std::string_view line(meta.data() + pos, eol - pos);
    pos = eol + 2;
    auto colon = line.find(": ");
    if (colon == std::string_view::npos) {
      if (line.size() && line.back() == ':') colon = line.size() - 1;  // "Mail-From:" + nothing
      else continue;
    }
    auto key = line.substr(0, colon);
    auto val = colon + 2 <= line.size() ? line.substr(colon + 2) : std::string_view();
    if (key == "Id") e.id = val;
    else if (key == "Log-Id") e.log_id = val;
    else if (key == "Time") e.time = val;
    else if (key == "Category") e.category = val;
    else if (key == "Client") e.client = val;
    else if (key == "Mail-From") split_path(val, e.envelope.sender, e.envelope.mail_params);
    else if (key == "Rcpt-To") {
      Recipient r;
      split_path(val, r.address, r.params);
      e.envelope.recipients.push_back(std::move(r));
    } else if (key == "Smtputf8") e.envelope.smtputf8 = val == "yes";
    else if (key == "Body-8bit") e.envelope.body_8bit = val == "yes";
    else if (key == "Header-Remove") e.edits.remove = parse_indices(val);
    else if (key == "Header-Add") e.edits.prepend.push_back(unescape_field(val));
    else if (key == "Size") {
      try {
        e.size = std::stoull(std::string(val));
      } catch (...) {
        e.size = 0;
      }
    }
  }
  if (!valid_id(e.id)) return make_error(ErrorKind::Protocol, path + ": bad Id line");
  if (message) *message = std::move(rest);
  return e;
}

}  // namespace

std::string new_id() {
  std::array<unsigned char, kIdLength> r{};
  std::size_t got = 0;
  while (got < r.size()) {
    ssize_t n = ::getrandom(r.data() + got, r.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("getrandom failed");
    got += static_cast<std::size_t>(n);
  }
  std::string id;
  for (auto b : r) id += kAlphabet[b & 31];
  return id;
}

bool valid_id(std::string_view id) {
  return id.size() == kIdLength && std::all_of(id.begin(), id.end(), [](char c) {
           return kAlphabet.find(c) != std::string_view::npos;
         });
}

Status store(const conf::QuarantineConfig& cfg, Entry meta, const MessageStore& message) {
  if (!valid_id(meta.id)) return make_error(ErrorKind::Internal, "bad quarantine id");
  if (::mkdir(cfg.dir.c_str(), 0700) != 0 && errno != EEXIST)
    return io_error("cannot create", cfg.dir, errno);
  std::string tmp = cfg.dir + "/.tmp-" + meta.id;
  std::string final_path = cfg.dir + "/" + meta.id + (cfg.compress ? ".gz" : "");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("cannot create", tmp, errno);
  bool ok = true;
  {
    Writer w(fd, cfg.compress);
    if (w.failed_open(cfg.compress)) {
      ::close(fd);
      ::unlink(tmp.c_str());
      return make_error(ErrorKind::Io, "cannot start gzip for " + tmp);
    }
    std::string head = meta_block(meta, message.size());
    ok = w.write(head.data(), head.size());
    ChunkReader chunks(message);
    while (ok) {
      auto piece = chunks.next();
      if (!piece) ok = false;
      else if (piece->empty()) break;
      else ok = w.write(piece->data(), piece->size());
    }
    // A spool file that ends before the message does fails the store too.
    ok = ok && chunks.offset() == message.size() && w.finish(fd);
  }
  if (!ok) {
    int err = errno ? errno : EIO;
    ::unlink(tmp.c_str());
    return io_error("cannot write", tmp, err);
  }
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return io_error("cannot rename into", final_path, err);
  }
  int dfd = ::open(cfg.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Ok{};
}

Result<Entry> read(const std::string& dir, std::string_view id, std::string* message) {
  if (!valid_id(id))
    return make_error(ErrorKind::Io, "'" + one_line(id) + "' is not a quarantine id (16 of a-z2-7)");
  bool found = false;
  std::string path = file_of(dir, id, found);
  if (!found) return make_error(ErrorKind::Io, "no quarantined message " + std::string(id) + " in " + dir);
  return read_file(path, message);
}

Result<std::vector<Entry>> list(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) return io_error("cannot open", dir, errno);
  std::vector<std::pair<std::pair<std::int64_t, std::string>, Entry>> found;
  while (dirent* de = ::readdir(d.get())) {
    std::string_view n = de->d_name;
    if (n.size() > 3 && n.substr(n.size() - 3) == ".gz") n.remove_suffix(3);
    if (!valid_id(n)) continue;
    std::string path = dir + "/" + de->d_name;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) continue;
    auto e = read_file(path, nullptr);
    if (!e) continue;
    found.push_back({{static_cast<std::int64_t>(st.st_mtime), e->id}, std::move(e.value())});
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Entry> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

}  // namespace sigil::filter::quarantine
