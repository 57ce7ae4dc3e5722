// tests/filter/decode_stage_test.cpp — the decode stage's MIME walk and
// header checks (decode_message), table-driven, fixtures built here.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "filter/core/policy.hpp"
#include "filter/stages/decode/decode_stage.hpp"
#include "filter/stages/registry.hpp"
#include "filter/core/message_store.hpp"

using namespace sigil;
using namespace sigil::filter;

namespace {

const std::string kHead =
    "From: a@example.org\r\nTo: b@example.net\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    "Subject: test\r\nMessage-ID: <1@example.org>\r\nMIME-Version: 1.0\r\n";

std::unique_ptr<MessageStore> store(const std::string& bytes, std::size_t threshold = 1 << 20) {
  auto m = std::make_unique<MessageStore>(threshold, ::testing::TempDir(), 64 * 1024);
  EXPECT_TRUE(m->append(bytes).ok());
  EXPECT_TRUE(m->finish().ok());
  return m;
}

std::string multipart(const std::string& parts_body, const std::string& ct_extra = "") {
  return kHead + "Content-Type: multipart/mixed; boundary=\"XX\"" + ct_extra + "\r\n\r\n" +
         parts_body + "--XX--\r\n";
}

std::string part(const std::string& headers, const std::string& body) {
  return "--XX\r\n" + headers + "\r\n" + body + "\r\n";
}

bool has(const DecodeResult& r, conf::Category c, const std::string& reason) {
  for (const auto& f : r.findings)
    if (f.category == c && f.reason == reason && f.stage == "decode") return true;
  return false;
}

std::string nested(int levels) {
  std::string s = kHead + "Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n";
  for (int i = 1; i < levels; ++i)
    s += "--b" + std::to_string(i - 1) + "\r\nContent-Type: multipart/mixed; boundary=\"b" +
         std::to_string(i) + "\"\r\n\r\n";
  s += "--b" + std::to_string(levels - 1) + "\r\nContent-Type: text/plain\r\n\r\nhi\r\n";
  for (int i = levels - 1; i >= 0; --i) s += "--b" + std::to_string(i) + "--\r\n";
  return s;
}

std::string many_parts(int n) {
  std::string body;
  for (int i = 0; i < n; ++i) body += part("Content-Type: text/plain\r\n", "x");
  return multipart(body);
}

TEST(DecodeStage, Table) {
  struct Case {
    std::string name;
    std::string msg;
    bool smtputf8 = false;
    std::vector<std::pair<conf::Category, std::string>> findings;  // exactly these
    std::vector<std::string> names;  // the leaves' file names, in order ("" none)
  } cases[] = {
      {"clean", multipart(part("Content-Type: text/plain\r\n", "hello") +
                          part("Content-Type: application/pdf; name=\"a.pdf\"\r\n"
                               "Content-Disposition: attachment; filename=\"a.pdf\"\r\n"
                               "Content-Transfer-Encoding: base64\r\n",
                               "JVBERi0xLjQK")),
       false, {}, {"", "a.pdf"}},
      {"rfc2231", multipart(part("Content-Type: application/octet-stream\r\n"
                                 "Content-Disposition: attachment; "
                                 "filename*=utf-8''facture-%C3%A9.exe\r\n",
                                 "data")),
       false, {}, {"facture-\xc3\xa9.exe"}},
      {"rfc2047", multipart(part("Content-Type: application/octet-stream; "
                                 "name=\"=?utf-8?Q?facture-=C3=A9.exe?=\"\r\n",
                                 "data")),
       false, {}, {"facture-\xc3\xa9.exe"}},
      {"5000 parts", many_parts(5000), false,
       {{conf::Category::Unchecked, "more than 1500 MIME parts"}}, {}},
      {"100 levels", nested(100), false,
       {{conf::Category::Unchecked, "MIME nesting deeper than 14"}}, {}},
      {"14 levels is fine", nested(14), false, {}, {""}},
      {"duplicate boundary",
       kHead + "Content-Type: multipart/mixed; boundary=\"XX\"; boundary=\"YY\"\r\n\r\n" +
           part("Content-Type: text/plain\r\n", "a") + "--XX--\r\n",
       false, {{conf::Category::Unchecked, "multipart with 2 boundary parameters"}}, {}},
      {"missing boundary",
       kHead + "Content-Type: multipart/mixed\r\n\r\n--XX\r\n\r\nhi\r\n--XX--\r\n", false,
       {{conf::Category::Unchecked, "multipart without a boundary parameter"}}, {}},
      {"missing From", "To: b@example.net\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nSubject: s\r\n\r\nbody\r\n", false,
       {{conf::Category::BadHeader, "missing From"}}, {""}},
      {"missing Date", "From: a@x.org\r\nSubject: s\r\n\r\nbody\r\n", false,
       {{conf::Category::BadHeader, "missing Date"}}, {""}},
      {"two From", "From: a@x.org\r\nFrom: c@x.org\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nSubject: s\r\n\r\nbody\r\n", false,
       {{conf::Category::BadHeader, "duplicate From"}}, {""}},
      {"bad Content-Type", multipart(part("Content-Type: texthtml\r\n", "x")), false,
       {{conf::Category::BadHeader, "invalid Content-Type 'texthtml' in MIME part 2"}}, {""}},
      {"bad Content-Transfer-Encoding",
       multipart(part("Content-Type: text/plain\r\nContent-Transfer-Encoding: base-64\r\n", "eA==")), false,
       {{conf::Category::BadHeader, "invalid Content-Transfer-Encoding 'base-64' in MIME part 2"}}, {""}},
      {"encoded multipart",
       kHead + "Content-Type: multipart/mixed; boundary=\"XX\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
           part("Content-Type: text/plain\r\n", "a") + "--XX--\r\n",
       false, {{conf::Category::BadHeader, "Content-Transfer-Encoding 'base64' on a multipart in MIME part 1"}}, {""}},
      {"MIME fields with comments and x-token",
       multipart(part("Content-Type: text (a comment) / plain ; charset=us-ascii\r\n"
                      "Content-Transfer-Encoding: (c) x-uuencode\r\n", "x")),
       false, {}, {""}},
      {"two Date and Subject",
       kHead + "Date: Tue, 2 Jan 2024 00:00:00 +0000\r\nSubject: again\r\n\r\nbody\r\n", false,
       {{conf::Category::BadHeader, "duplicate Date"},
        {conf::Category::BadHeader, "duplicate Subject"}},
       {""}},
      {"8-bit header", kHead + "X-Note: caf\xc3\xa9\r\n\r\nbody\r\n", false,
       {{conf::Category::BadHeader, "8-bit bytes in the header without SMTPUTF8"}}, {""}},
      {"8-bit header with SMTPUTF8", kHead + "X-Note: caf\xc3\xa9\r\n\r\nbody\r\n", true, {},
       {""}},
  };
  conf::DecodeConfig cfg;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Envelope env;
    env.smtputf8 = c.smtputf8;
    auto m = store(c.msg);
    auto t0 = std::chrono::steady_clock::now();
    DecodeResult r = decode_message(*m, env, cfg);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
    ASSERT_EQ(r.findings.size(), c.findings.size());
    for (const auto& [cat, reason] : c.findings)
      EXPECT_TRUE(has(r, cat, reason)) << reason << " / got " << r.findings[0].reason;
    if (c.findings.empty() || c.findings[0].first == conf::Category::BadHeader) {
      EXPECT_TRUE(r.complete);
      ASSERT_EQ(r.parts.size(), c.names.size());
      for (std::size_t i = 0; i < c.names.size(); ++i) EXPECT_EQ(r.parts[i].name, c.names[i]);
    } else {
      EXPECT_FALSE(r.complete);
    }
  }
}

TEST(DecodeStage, PartInfoAndNote) {
  std::string msg = multipart(part("Content-Type: text/plain\r\n", "hello world") +
                              part("Content-Type: text/plain; name=\"readme.txt\"\r\n",
                                   std::string("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff", 14) +
                                       std::string(64, '\0') + "This program cannot be run in DOS mode") +
                              part("Content-Type: application/octet-stream\r\n"
                                   "Content-Disposition: attachment; "
                                   "filename*=utf-8''facture-%C3%A9.exe\r\n"
                                   "Content-Transfer-Encoding: base64\r\n",
                                   "aGVsbG8="));
  auto m = store(msg);
  DecodeResult r = decode_message(*m, Envelope{}, conf::DecodeConfig{});
  EXPECT_TRUE(r.findings.empty());
  ASSERT_EQ(r.parts.size(), 3u);
  EXPECT_EQ(r.parts[0].declared_type, "text/plain");
  EXPECT_EQ(r.parts[0].detected_type, "text/plain");
  EXPECT_EQ(r.parts[0].depth, 1u);
  EXPECT_EQ(r.parts[1].declared_type, "text/plain");
  EXPECT_TRUE(r.parts[1].detected_type == "application/x-dosexec" ||
              r.parts[1].detected_type == "application/x-msdownload" ||
              r.parts[1].detected_type == "application/vnd.microsoft.portable-executable")
      << r.parts[1].detected_type;
  EXPECT_EQ(r.parts[2].size, 5u) << "base64 decoded";
  EXPECT_EQ(r.note, "3 parts; names: readme.txt, facture-\xc3\xa9.exe");
}

TEST(DecodeStage, SpooledMessageParsedFromTheFile) {
  std::string big(200000, 'A');
  std::string msg = multipart(part("Content-Type: text/plain\r\n", "first") +
                              part("Content-Type: application/octet-stream; name=\"big.bin\"\r\n",
                                   big));
  auto m = store(msg, 1024);
  ASSERT_TRUE(m->spooled());
  DecodeResult r = decode_message(*m, Envelope{}, conf::DecodeConfig{});
  EXPECT_TRUE(r.findings.empty());
  ASSERT_EQ(r.parts.size(), 2u);
  EXPECT_EQ(r.parts[1].name, "big.bin");
  EXPECT_EQ(r.parts[1].size, big.size());
  // Twice: the stage does not disturb the store.
  DecodeResult again = decode_message(*m, Envelope{}, conf::DecodeConfig{});
  EXPECT_EQ(again.parts.size(), 2u);
}

TEST(DecodeStage, ConfiguredLimits) {
  conf::DecodeConfig cfg;
  cfg.max_parts = 3;
  cfg.max_depth = 2;
  auto m = store(many_parts(5));
  auto r = decode_message(*m, Envelope{}, cfg);
  EXPECT_TRUE(has(r, conf::Category::Unchecked, "more than 3 MIME parts"));
  auto n = store(nested(4));
  auto s = decode_message(*n, Envelope{}, cfg);
  EXPECT_TRUE(has(s, conf::Category::Unchecked, "MIME nesting deeper than 2"));
}

}  // namespace

namespace {

// GMime builds the whole tree before the walk: very deep nesting must still
// end in `unchecked`, not a crash.
TEST(DecodeStage, VeryDeepNestingDoesNotCrash) {
  auto m = store(nested(20000));
  auto t0 = std::chrono::steady_clock::now();
  auto r = decode_message(*m, Envelope{}, conf::DecodeConfig{});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_TRUE(has(r, conf::Category::Unchecked, "MIME nesting deeper than 14"));
}

}  // namespace

// ------------------------------------------------------------ archives
//
// Fixtures are made here, at test time, with python3's zipfile, tarfile,
// gzip, bz2 and lzma, and the zip, 7z, cpio, zstd and genisoimage tools
// (scripts/packages-test.txt).  Debian has no free tool that writes RAR
// archives (unrar-free and unar only read them): the RAR case is written
// by hand in the Formats table.

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "conf/config.hpp"

namespace {

namespace fs = std::filesystem;

// Runs one stage on a private event loop until it is done.
Verdict run_stage(Stage& st, MessageContext& ctx) {
  boost::asio::io_context io;
  Verdict out;
  boost::asio::co_spawn(io, st.run(ctx), [&](std::exception_ptr e, Verdict v) {
    if (e) std::rethrow_exception(e);
    out = std::move(v);
  });
  io.run();
  return out;
}


// A private scratch directory for one test, removed afterwards.
struct Scratch {
  fs::path dir;
  Scratch() {
    std::string t = ::testing::TempDir() + "/decode-test-XXXXXX";
    if (::mkdtemp(t.data())) dir = t;
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  // Runs a shell command in the directory; true when it exits 0.
  bool sh(const std::string& cmd) const {
    std::string full = "cd '" + dir.string() + "' && { " + cmd + " ; } >/dev/null 2>&1";
    return std::system(full.c_str()) == 0;
  }
  // Runs a python3 script in the directory (Debian's python3: a pyenv shim
  // on PATH costs a second per start; only the standard library is used).
  bool py(const std::string& script) const {
    write("gen.py", script);
    return sh(::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3 gen.py" : "python3 gen.py");
  }
  void write(const std::string& name, const std::string& bytes) const {
    std::ofstream(dir / name, std::ios::binary) << bytes;
  }
  std::string read(const std::string& name) const {
    std::ifstream in(dir / name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
};

bool have(const std::string& tool) {
  return std::system(("command -v " + tool + " >/dev/null 2>&1").c_str()) == 0;
}

std::string b64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t line = 0;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    std::uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) v |= static_cast<unsigned char>(in[i + 2]);
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += i + 1 < in.size() ? k[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? k[v & 63] : '=';
    if (++line == 19) {
      out += "\r\n";
      line = 0;
    }
  }
  return out;
}

std::string attachment(const std::string& bytes, const std::string& name,
                       const std::string& type = "application/octet-stream") {
  return part("Content-Type: " + type + "; name=\"" + name +
                  "\"\r\nContent-Disposition: attachment; filename=\"" + name +
                  "\"\r\nContent-Transfer-Encoding: base64\r\n",
              b64(bytes));
}

// A message: a text part, then `bytes` attached as `name`.
std::string with_attachment(const std::string& bytes, const std::string& name,
                            const std::string& type = "application/octet-stream") {
  return multipart(part("Content-Type: text/plain\r\n", "see attachment") +
                   attachment(bytes, name, type));
}

const PartInfo* find_path(const DecodeResult& r, const std::vector<std::string>& path) {
  for (const auto& p : r.parts)
    if (p.path == path) return &p;
  return nullptr;
}

std::string findings_of(const DecodeResult& r) {
  std::string s;
  for (const auto& f : r.findings)
    s += std::string(conf::to_string(f.category)) + ": " + f.reason + "\n";
  return s.empty() ? "(none)" : s;
}

std::string parts_of(const DecodeResult& r) {
  std::string s;
  for (const auto& p : r.parts) {
    for (const auto& e : p.path) s += e + " | ";
    s += p.container + " " + p.detected_type + " " + std::to_string(p.size) + " d" +
         std::to_string(p.depth) + "\n";
  }
  return s;
}

bool has_prefix(const DecodeResult& r, conf::Category c, const std::string& prefix) {
  for (const auto& f : r.findings)
    if (f.category == c && f.reason.rfind(prefix, 0) == 0) return true;
  return false;
}

const BannedRules& default_rules() {
  static const BannedSets sets = compile_banned({});
  return *sets.at("default");
}

const char* kHello = R"(
open('hello.txt', 'w').write('hello world\n')
)";

TEST(DecodeArchives, ZipWithExeIsBannedWithItsPath) {
  Scratch s;
  ASSERT_TRUE(s.py(std::string(kHello) + R"(
import zipfile
with zipfile.ZipFile('invoice.zip', 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('x.pdf.exe', 'not really a program')
    z.writestr('notes.txt', 'hello')
)"));
  auto m = store(with_attachment(s.read("invoice.zip"), "invoice.zip", "application/zip"));
  auto r = decode_message(*m, Envelope{}, conf::DecodeConfig{}, &default_rules());
  ASSERT_EQ(r.findings.size(), 1u) << findings_of(r);
  EXPECT_TRUE(has(r, conf::Category::Banned,
                  "banned name 'x.pdf.exe' in invoice.zip (rule 4 of default)"))
      << findings_of(r);
  const PartInfo* zip = find_path(r, {"invoice.zip"});
  ASSERT_NE(zip, nullptr) << parts_of(r);
  EXPECT_EQ(zip->detected_type, "application/zip");
  EXPECT_EQ(zip->container, "");
  const PartInfo* exe = find_path(r, {"invoice.zip", "x.pdf.exe"});
  ASSERT_NE(exe, nullptr) << parts_of(r);
  EXPECT_EQ(exe->name, "x.pdf.exe");
  EXPECT_EQ(exe->container, "zip");
  EXPECT_EQ(exe->inside, std::vector<std::string>{"zip"});
  EXPECT_EQ(exe->depth, 2u);
  EXPECT_EQ(exe->size, 20u);
  EXPECT_EQ(r.parts.size(), 4u) << parts_of(r);
  EXPECT_EQ(r.note,
            "4 parts; names: invoice.zip, invoice.zip/x.pdf.exe, invoice.zip/notes.txt");
  // Without rules: the same parts, nothing banned.
  auto plain = decode_message(*m, Envelope{}, conf::DecodeConfig{});
  EXPECT_TRUE(plain.findings.empty()) << findings_of(plain);
}

TEST(DecodeArchives, TarGzInsideZipIsFoundAtDepth) {
  Scratch s;
  ASSERT_TRUE(s.py(std::string(kHello) + R"(
import tarfile, zipfile
with tarfile.open('inner.tar.gz', 'w:gz') as t:
    t.add('hello.txt', arcname='docs/hello.txt')
with zipfile.ZipFile('outer.zip', 'w') as z:
    z.write('inner.tar.gz', 'dir/inner.tar.gz')
)"));
  auto m = store(with_attachment(s.read("outer.zip"), "outer.zip"));
  auto r = decode_message(*m, Envelope{}, conf::DecodeConfig{}, &default_rules());
  EXPECT_TRUE(r.findings.empty()) << findings_of(r);
  EXPECT_TRUE(r.complete);
  const PartInfo* h = find_path(r, {"outer.zip", "dir/inner.tar.gz", "docs/hello.txt"});
  ASSERT_NE(h, nullptr) << parts_of(r);
  EXPECT_EQ(h->depth, 3u);
  EXPECT_EQ(h->container, "tar");
  EXPECT_EQ(h->inside, (std::vector<std::string>{"zip", "gzip", "tar"}));
  EXPECT_EQ(h->size, 12u);
  EXPECT_EQ(h->detected_type, "text/plain");
  const PartInfo* tgz = find_path(r, {"outer.zip", "dir/inner.tar.gz"});
  ASSERT_NE(tgz, nullptr);
  EXPECT_EQ(tgz->detected_type, "application/gzip");
}

// Every format: hello.txt ("hello world\n") inside; `member` is its name
// (a bare compressed stream's member is named after it without the suffix).
TEST(DecodeArchives, Formats) {
  struct Case {
    std::string file, make, tool, container, member = "hello.txt";
  } cases[] = {
      {"a.zip", "import zipfile\nwith zipfile.ZipFile('a.zip','w') as z: z.write('hello.txt')", "", "zip"},
      {"a.tar", "import tarfile\nwith tarfile.open('a.tar','w') as t: t.add('hello.txt')", "", "tar"},
      {"a.tar.bz2", "import tarfile\nwith tarfile.open('a.tar.bz2','w:bz2') as t: t.add('hello.txt')", "", "tar"},
      {"a.tar.xz", "import tarfile\nwith tarfile.open('a.tar.xz','w:xz') as t: t.add('hello.txt')", "", "tar"},
      {"hello.txt.gz", "import gzip\nopen('hello.txt.gz','wb').write(gzip.compress(open('hello.txt','rb').read()))", "", "gzip"},
      {"hello.txt.bz2", "import bz2\nopen('hello.txt.bz2','wb').write(bz2.compress(open('hello.txt','rb').read()))", "", "bzip2"},
      {"hello.txt.xz", "import lzma\nopen('hello.txt.xz','wb').write(lzma.compress(open('hello.txt','rb').read()))", "", "xz"},
      {"hello.txt.zst", "zstd -q hello.txt -o hello.txt.zst", "zstd", "zstd"},
      {"a.7z", "7z a -bd a.7z hello.txt", "7z", "7z"},
      {"a.cpio", "echo hello.txt | cpio -o -H newc > a.cpio", "cpio", "cpio"},
      {"a.iso", "genisoimage -quiet -r -o a.iso hello.txt", "genisoimage", "iso9660"},
      // No free tool writes RAR: a RAR 4 archive with one stored member,
      // written block by block (marker, archive header 0x73, file header
      // 0x74 with the data, end 0x7b; each header's CRC is the low 16 bits
      // of the CRC-32 of the header after the CRC field).
      {"a.rar", R"(import struct, zlib
data = open('hello.txt', 'rb').read()
def block(typ, flags, body, add=b''):
    head = struct.pack('<BHH', typ, flags, 7 + len(body)) + body
    return struct.pack('<H', zlib.crc32(head) & 0xffff) + head + add
name = b'hello.txt'
fh = struct.pack('<IIBIIBBHI', len(data), len(data), 3, zlib.crc32(data), 0x5a210000, 20, 0x30,
                 len(name), 0o100644 << 16) + name
rar = b'Rar!\x1a\x07\x00' + block(0x73, 0, b'\0' * 6) + block(0x74, 0x8000, fh, data) + block(0x7b, 0x4000, b'')
open('a.rar', 'wb').write(rar))", "", "rar"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    if (!c.tool.empty() && !have(c.tool)) {
      ADD_FAILURE() << c.tool << " not installed (scripts/packages-test.txt)";
      continue;
    }
    Scratch s;
    ASSERT_TRUE(s.py(kHello));
    ASSERT_TRUE(c.tool.empty() ? s.py(c.make) : s.sh(c.make)) << c.make;
    auto m = store(with_attachment(s.read(c.file), c.file));
    auto r = decode_message(*m, Envelope{}, conf::DecodeConfig{}, &default_rules());
    EXPECT_TRUE(r.findings.empty()) << findings_of(r);
    const PartInfo* h = find_path(r, {c.file, c.member});
    ASSERT_NE(h, nullptr) << parts_of(r);
    EXPECT_EQ(h->container, c.container);
    EXPECT_EQ(h->size, 12u);
    EXPECT_EQ(h->detected_type, "text/plain");
    EXPECT_EQ(h->depth, 2u);
  }
}

// A zip of 1 GiB of zeros (about 1 MiB: one deflated MiB repeated; the CRC
// is left 0, nothing may read that far).  The quota for a 1.4 MB message is
// 500 MiB with the defaults; the walk must stop there, quickly, and leave
// nothing in the temporary directory.
const char* kBombPy = R"(
import struct, zlib
c = zlib.compressobj(9, zlib.DEFLATED, -15)
chunk = c.compress(b'\0' * (1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
data = chunk * 1024 + c.flush()
name = b'zeros.bin'
usize = 1 << 30
local = struct.pack('<IHHHHHIIIHH', 0x04034b50, 20, 0, 8, 0, 0, 0, len(data), usize, len(name), 0) + name
central = struct.pack('<IHHHHHHIIIHHHHHII', 0x02014b50, 20, 20, 0, 8, 0, 0, 0, len(data), usize,
                      len(name), 0, 0, 0, 0, 0, 0) + name
end = struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, 1, 1, len(central), len(local) + len(data), 0)
open('bomb.zip', 'wb').write(local + data + central + end)
)";

// kBombPy's zip attached to a message, and an empty directory for the
// walk's temporary files.
struct Bomb {
  Scratch s;
  bool ok = false;
  std::string zip;
  std::string spool;
  std::unique_ptr<MessageStore> message;
  Bomb() {
    ok = s.py(kBombPy);
    fs::create_directory(s.dir / "spool");
    spool = (s.dir / "spool").string();
    if (!ok) return;
    zip = s.read("bomb.zip");
    message = store(with_attachment(zip, "bomb.zip"));
  }
  bool spool_empty() const { return fs::is_empty(spool); }
};

TEST(DecodeArchives, ZipBombStopsAtTheExpansionQuota) {
  Bomb b;
  ASSERT_TRUE(b.ok);
  conf::DecodeConfig cfg;
  cfg.temp_dir = b.spool;
  ASSERT_LT(b.zip.size(), 2u << 20);
  auto& m = b.message;
  auto t0 = std::chrono::steady_clock::now();
  auto r = decode_message(*m, Envelope{}, cfg, &default_rules());
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, std::chrono::seconds(10));
  EXPECT_TRUE(has_prefix(r, conf::Category::Unchecked, "expansion quota of 524288000 bytes exceeded in bomb.zip/zeros.bin"))
      << findings_of(r);
  EXPECT_FALSE(r.complete);
  EXPECT_LE(r.expanded, 524288000u + 65536u);
  const PartInfo* z = find_path(r, {"bomb.zip", "zeros.bin"});
  ASSERT_NE(z, nullptr) << parts_of(r);
  EXPECT_EQ(z->detected_type, "application/octet-stream");
  EXPECT_TRUE(b.spool_empty()) << "the private directory is removed";

  // A smaller quota stops sooner.
  // max(100 KiB, 1 x 1.4 MB, min(4 MiB, 5 x 1.4 MB)) = 4 MiB
  cfg.min_expansion_factor = 1;
  cfg.max_expansion_quota = 4 << 20;
  cfg.max_expansion_factor = 5;
  auto small = decode_message(*m, Envelope{}, cfg);
  EXPECT_TRUE(has_prefix(small, conf::Category::Unchecked, "expansion quota of 4194304 bytes"))
      << findings_of(small);
  EXPECT_TRUE(b.spool_empty());
}

// The time limit: with a quota above the bomb's 1 GiB, only stop_at ends
// the walk, long before the end (inflating 1 GiB takes far more than 20 ms).
TEST(DecodeArchives, ZipBombStopsAtTheTimeLimit) {
  Bomb b;
  ASSERT_TRUE(b.ok);
  conf::DecodeConfig cfg;
  cfg.temp_dir = b.spool;
  cfg.min_expansion_quota = 4ull << 30;
  cfg.max_expansion_quota = 4ull << 30;
  auto& m = b.message;
  auto r = decode_message(*m, Envelope{}, cfg, &default_rules(),
                          std::chrono::steady_clock::now() + std::chrono::milliseconds(20));
  EXPECT_TRUE(has_prefix(r, conf::Category::Unchecked, "decode time limit reached after ")) << findings_of(r);
  EXPECT_FALSE(r.complete);
  EXPECT_LT(r.expanded, 1ull << 30) << "stopped before the end of the bomb";
  EXPECT_TRUE(b.spool_empty()) << "the private directory is removed";

  // A limit already past: nothing is walked.
  auto none = decode_message(*m, Envelope{}, cfg, &default_rules(), std::chrono::steady_clock::now());
  EXPECT_TRUE(has(none, conf::Category::Unchecked, "decode time limit reached after 0 parts"))
      << findings_of(none);
  EXPECT_TRUE(none.parts.empty()) << parts_of(none);
}

// The stage walks on its pool: a timer on the event loop fires while the
// bomb is unpacked.  Control: with threads = 0 the walk holds the event
// loop, and the same timer can only fire after it (this is what the pool
// is for).
TEST(DecodeArchives, TheStageWalksOffTheEventLoop) {
  Bomb b;
  ASSERT_TRUE(b.ok);
  auto& m = b.message;
  for (std::size_t threads : {1u, 0u}) {
    SCOPED_TRACE("threads = " + std::to_string(threads));
    conf::DecodeConfig cfg;
    cfg.temp_dir = b.spool;
    cfg.threads = threads;
    DecodeStage stage(cfg);
    ClientInfo client;
    Envelope env;
    MessageContext ctx{"t", client, env, *m};
    boost::asio::io_context io;
    bool done = false, fired_during_walk = false;
    boost::asio::co_spawn(io, stage.run(ctx), [&](std::exception_ptr e, Verdict) {
      if (e) std::rethrow_exception(e);
      done = true;
    });
    // The stage adds its findings on the event loop as soon as the walk is
    // over: none yet means the walk is still going.
    boost::asio::steady_timer timer(io, std::chrono::milliseconds(5));
    timer.async_wait([&](boost::system::error_code) { fired_during_walk = ctx.findings.empty(); });
    io.run();
    ASSERT_TRUE(done);
    EXPECT_EQ(fired_during_walk, threads > 0);
    bool quota = false;
    for (auto& f : ctx.findings) quota = quota || f.reason.rfind("expansion quota of", 0) == 0;
    EXPECT_TRUE(quota) << "the walk went to the quota";
  }
  EXPECT_TRUE(b.spool_empty());
}

// The stage's deadline (Stage::deadline, cut by the listener's budget)
// reaches the walk, on the pool and on the event loop.
TEST(DecodeArchives, TheStageStopsAtItsDeadlineAndBudget) {
  Bomb b;
  ASSERT_TRUE(b.ok);
  auto& m = b.message;
  for (std::size_t threads : {1u, 0u}) {
    for (bool by_budget : {false, true}) {
      SCOPED_TRACE("threads = " + std::to_string(threads) + (by_budget ? ", budget" : ", deadline"));
      conf::DecodeConfig cfg;
      cfg.temp_dir = b.spool;
      cfg.min_expansion_quota = 4ull << 30;
      cfg.max_expansion_quota = 4ull << 30;
      cfg.threads = threads;
      DecodeStage stage(cfg);
      if (!by_budget) stage.deadline = std::chrono::milliseconds(20);
      ClientInfo client;
      Envelope env;
      MessageContext ctx{"t", client, env, *m};
      if (by_budget) ctx.budget_end = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
      Verdict v = run_stage(stage, ctx);
      EXPECT_EQ(v.action, Action::Continue);
      bool late = false;
      for (auto& f : ctx.findings)
        late = late || (f.category == conf::Category::Unchecked &&
                        f.reason.rfind("decode time limit reached after ", 0) == 0);
      EXPECT_TRUE(late);
    }
  }
  EXPECT_TRUE(b.spool_empty());
}

TEST(DecodeArchives, HundredNestedZipsStopAtMaxDepth) {
  Scratch s;
  ASSERT_TRUE(s.py(R"(
import io, zipfile
data, name = b'hello', 'hello.txt'
for i in range(100):
    b = io.BytesIO()
    with zipfile.ZipFile(b, 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    data, name = b.getvalue(), 'level%d.zip' % i
open('nested.zip', 'wb').write(data)
)"));
  fs::create_directory(s.dir / "spool");
  conf::DecodeConfig cfg;
  cfg.temp_dir = (s.dir / "spool").string();
  auto m = store(with_attachment(s.read("nested.zip"), "nested.zip"));
  auto r = decode_message(*m, Envelope{}, cfg, &default_rules());
  EXPECT_TRUE(has_prefix(r, conf::Category::Unchecked,
                         "archive nesting deeper than 14: nested.zip/level98.zip/level97.zip/"))
      << findings_of(r);
  EXPECT_FALSE(r.complete);
  EXPECT_EQ(r.parts.back().depth, 14u) << parts_of(r);
  EXPECT_TRUE(fs::is_empty(s.dir / "spool"));
}

TEST(DecodeArchives, EncryptedArchivesAreUnchecked) {
  struct Case {
    std::string file, make, tool;
  } cases[] = {
      {"enc.zip", "zip -q -P secret enc.zip hello.txt", "zip"},
      {"enc.7z", "7z a -bd -psecret enc.7z hello.txt", "7z"},
      {"enc-headers.7z", "7z a -bd -psecret -mhe=on enc-headers.7z hello.txt", "7z"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    if (!have(c.tool)) {
      ADD_FAILURE() << c.tool << " not installed (scripts/packages-test.txt)";
      continue;
    }
    Scratch s;
    ASSERT_TRUE(s.py(kHello));
    ASSERT_TRUE(s.sh(c.make));
    auto m = store(with_attachment(s.read(c.file), c.file));
    auto r = decode_message(*m, Envelope{}, conf::DecodeConfig{}, &default_rules());
    EXPECT_TRUE(has(r, conf::Category::Unchecked, "encrypted archive: " + c.file))
        << findings_of(r);
    EXPECT_FALSE(r.complete);
  }
}

TEST(DecodeArchives, CorruptArchivesAreUnchecked) {
  Scratch s;
  ASSERT_TRUE(s.py(R"(
import gzip, os, zipfile
blob = os.urandom(200000)
with zipfile.ZipFile('big.zip', 'w', zipfile.ZIP_STORED) as z:
    z.writestr('blob.bin', blob)
open('cut.zip', 'wb').write(open('big.zip', 'rb').read()[:150000])
open('cut.gz', 'wb').write(gzip.compress(os.urandom(10000))[:5000])
open('junk.zip', 'wb').write(b'PK\x03\x04' + os.urandom(300))
)"));
  for (std::string f : {"cut.zip", "cut.gz", "junk.zip"}) {
    SCOPED_TRACE(f);
    auto m = store(with_attachment(s.read(f), f));
    auto r = decode_message(*m, Envelope{}, conf::DecodeConfig{}, &default_rules());
    EXPECT_TRUE(has_prefix(r, conf::Category::Unchecked, "corrupt archive: " + f + " ("))
        << findings_of(r);
    EXPECT_FALSE(r.complete);
  }
  // Not an archive at all: just a part.
  auto m = store(with_attachment(std::string(5000, 'x'), "x.dat"));
  auto r = decode_message(*m, Envelope{}, conf::DecodeConfig{}, &default_rules());
  EXPECT_TRUE(r.findings.empty()) << findings_of(r);
  EXPECT_EQ(r.parts.size(), 2u);
}

TEST(DecodeArchives, MaxPartsCountsMembers) {
  Scratch s;
  ASSERT_TRUE(s.py(R"(
import zipfile
with zipfile.ZipFile('many.zip', 'w') as z:
    for i in range(50):
        z.writestr('f%d.txt' % i, '')
)"));
  conf::DecodeConfig cfg;
  cfg.max_parts = 20;
  auto m = store(with_attachment(s.read("many.zip"), "many.zip"));
  auto r = decode_message(*m, Envelope{}, cfg, &default_rules());
  EXPECT_TRUE(has(r, conf::Category::Unchecked,
                  "more than 20 MIME parts and archive members: many.zip"))
      << findings_of(r);
  auto all = decode_message(*m, Envelope{}, conf::DecodeConfig{}, &default_rules());
  EXPECT_TRUE(all.findings.empty()) << findings_of(all);
  EXPECT_EQ(all.parts.size(), 52u) << "empty members are parts too";
}

// ------------------------------------------------------------ banned

const std::string kPe =
    std::string("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff", 14) + std::string(64, '\0') +
    "This program cannot be run in DOS mode";

TEST(DecodeBanned, DefaultRules) {
  struct Case {
    std::string name, msg, want;  // want: the one finding ("" none)
  } cases[] = {
      {"rfc2231 name",
       multipart(part("Content-Type: application/octet-stream\r\n"
                      "Content-Disposition: attachment; filename*=utf-8''facture-%C3%A9.exe\r\n",
                      "data")),
       "banned name 'facture-\xc3\xa9.exe' (rule 5 of default)"},
      {"double extension", with_attachment("%PDF-1.4", "invoice.pdf.exe"),
       "banned name 'invoice.pdf.exe' (rule 4 of default)"},
      {"double extension with spaces", with_attachment("x", "invoice.pdf   .scr"),
       "banned name 'invoice.pdf   .scr' (rule 4 of default)"},
      {"declared type", with_attachment("data", "update.bin", "application/x-msdownload"),
       "banned type 'application/x-msdownload' of 'update.bin' (rule 3 of default)"},
      {"detected type",
       multipart(part("Content-Type: text/plain; name=\"readme.txt\"\r\n", kPe)), ""},
      {"javascript", with_attachment("alert(1)", "Run.JS"), "banned name 'Run.JS' (rule 5 of default)"},
      {"clean", with_attachment("%PDF-1.4", "report.pdf"), ""},
      {"an .exe-like word is fine", with_attachment("x", "executive-summary.pdf"), ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto m = store(c.msg);
    auto r = decode_message(*m, Envelope{}, conf::DecodeConfig{}, &default_rules());
    if (c.name == "detected type") {
      ASSERT_EQ(r.findings.size(), 1u) << findings_of(r);
      EXPECT_TRUE(has_prefix(r, conf::Category::Banned, "banned detected type 'application/"))
          << findings_of(r);
      EXPECT_NE(r.findings[0].reason.find("' of 'readme.txt' (rule 1 of default)"),
                std::string::npos)
          << findings_of(r);
    } else if (c.want.empty()) {
      EXPECT_TRUE(r.findings.empty()) << findings_of(r);
    } else {
      ASSERT_EQ(r.findings.size(), 1u) << findings_of(r);
      EXPECT_TRUE(has(r, conf::Category::Banned, c.want)) << findings_of(r);
    }
  }
}

TEST(DecodeBanned, ExeInTarIsAllowedButNotAProgram) {
  Scratch s;
  s.write("tool.exe", "#!/bin/sh\necho a script named .exe\n");
  s.write("real.exe", kPe);
  ASSERT_TRUE(s.py(R"(
import tarfile, zipfile
with tarfile.open('tools.tar', 'w') as t:
    t.add('tool.exe')
with tarfile.open('real.tar', 'w') as t:
    t.add('real.exe')
with zipfile.ZipFile('tools.zip', 'w') as z:
    z.write('tool.exe')
)"));
  auto tar = decode_message(*store(with_attachment(s.read("tools.tar"), "tools.tar")), Envelope{},
                            conf::DecodeConfig{}, &default_rules());
  EXPECT_TRUE(tar.findings.empty()) << "rule 2 allows names inside tar\n" << findings_of(tar);
  ASSERT_NE(find_path(tar, {"tools.tar", "tool.exe"}), nullptr) << parts_of(tar);
  auto real = decode_message(*store(with_attachment(s.read("real.tar"), "real.tar")), Envelope{},
                             conf::DecodeConfig{}, &default_rules());
  ASSERT_EQ(real.findings.size(), 1u) << findings_of(real);
  EXPECT_TRUE(has_prefix(real, conf::Category::Banned, "banned detected type")) << findings_of(real);
  EXPECT_NE(real.findings[0].reason.find("of 'real.exe' in real.tar (rule 1 of default)"),
            std::string::npos)
      << findings_of(real);
  auto zip = decode_message(*store(with_attachment(s.read("tools.zip"), "tools.zip")), Envelope{},
                            conf::DecodeConfig{}, &default_rules());
  EXPECT_TRUE(has(zip, conf::Category::Banned, "banned name 'tool.exe' in tools.zip (rule 5 of default)"))
      << findings_of(zip);
}

TEST(DecodeBanned, RulesAreCheckedOnAnIncompleteWalk) {
  std::string body;
  body += attachment("x", "first.exe");
  for (int i = 0; i < 10; ++i) body += part("Content-Type: text/plain\r\n", "x");
  conf::DecodeConfig cfg;
  cfg.max_parts = 5;
  auto r = decode_message(*store(multipart(body)), Envelope{}, cfg, &default_rules());
  EXPECT_TRUE(has(r, conf::Category::Unchecked, "more than 5 MIME parts"));
  EXPECT_TRUE(has(r, conf::Category::Banned, "banned name 'first.exe' (rule 5 of default)"))
      << findings_of(r);
}

TEST(DecodeBanned, AtMostTenFindings) {
  std::string body;
  for (int i = 0; i < 25; ++i) body += attachment("x", "f" + std::to_string(i) + ".exe");
  auto r = decode_message(*store(multipart(body)), Envelope{}, conf::DecodeConfig{}, &default_rules());
  ASSERT_EQ(r.findings.size(), 11u) << findings_of(r);
  EXPECT_TRUE(has(r, conf::Category::Banned, "15 more banned parts"));
}

TEST(DecodeBanned, CustomSetMatchersAndOrder) {
  auto cfg = conf::load_string(R"(
[[listener]]
address = "127.0.0.1:10024"
[banned.custom]
rules = [
  { action = "allow", path = '^trusted\.zip/' },
  { action = "ban", name = '\.docm$' },
  { action = "ban", type = '^application/x-sh$', name = '\.txt$' },
  { action = "ban", inside = '^7z$' },
  { action = "ban", detected = '^application/pdf$', name = '^[^.]*$' },
]
)",
                               "t.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  auto sets = compile_banned(cfg->banned);
  ASSERT_EQ(sets.count("custom"), 1u);
  ASSERT_EQ(sets.count("default"), 1u) << "the built-in default stays available";
  const BannedRules& custom = *sets.at("custom");
  EXPECT_EQ(custom.name(), "custom");

  auto part_of = [](std::string name, std::string type, std::string detected,
                    std::vector<std::string> path, std::vector<std::string> inside) {
    PartInfo p;
    p.name = std::move(name);
    p.declared_type = std::move(type);
    p.detected_type = std::move(detected);
    p.path = std::move(path);
    p.inside = std::move(inside);
    return p;
  };
  struct Case {
    PartInfo p;
    std::optional<std::pair<bool, std::size_t>> want;
  } cases[] = {
      {part_of("macro.DOCM", "", "", {"macro.DOCM"}, {}), std::pair{true, std::size_t{2}}},
      {part_of("macro.docm", "", "", {"trusted.zip", "macro.docm"}, {"zip"}),
       std::pair{false, std::size_t{1}}},
      {part_of("run.txt", "application/x-sh", "", {"run.txt"}, {}), std::pair{true, std::size_t{3}}},
      {part_of("run.txt", "text/plain", "", {"run.txt"}, {}), std::nullopt},
      {part_of("a", "", "", {"x.7z", "a"}, {"7z"}), std::pair{true, std::size_t{4}}},
      {part_of("noext", "", "application/pdf", {"noext"}, {}), std::pair{true, std::size_t{5}}},
      {part_of("a.pdf", "", "application/pdf", {"a.pdf"}, {}), std::nullopt},
      {part_of("x.exe", "", "", {"x.exe"}, {}), std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.p.name);
    auto d = custom.decide(c.p);
    ASSERT_EQ(d.has_value(), c.want.has_value());
    if (d) {
      EXPECT_EQ(d->ban, c.want->first);
      EXPECT_EQ(d->rule, c.want->second);
    }
  }
  // The custom set through decode_message.
  auto r = decode_message(*store(with_attachment("x", "m.docm")), Envelope{}, conf::DecodeConfig{},
                          &custom);
  EXPECT_TRUE(has(r, conf::Category::Banned, "banned name 'm.docm' (rule 2 of custom)"))
      << findings_of(r);
  // A bad regex that slipped past the loader: the maker refuses it.
  conf::BannedRuleSet bad{"bad", {}};
  bad.rules.emplace_back();
  bad.rules.back().name = "(";
  EXPECT_THROW(BannedRules{bad}, std::runtime_error);
}

// The bank's banned_rules reaches the stage through the Policy (and
// with_banks), and the built-in stage maker compiles every set.
TEST(DecodeBanned, BankSelectsTheRuleSet) {
  Scratch s;
  fs::create_directory(s.dir / "spool");
  auto cfg = conf::load_string(R"(
[daemon]
spool_dir = ")" + (s.dir / "spool").string() + R"("
[[listener]]
address = "127.0.0.1:10024"
[bank.default]
stages = ["decode"]
[bank.lenient]
banned_rules = "none"
[bank.strict]
banned_rules = "strict"
[banned.strict]
rules = [ { action = "ban", name = '\.txt$' } ]
[[network]]
cidrs = ["192.0.2.0/24"]
bank = "lenient"
[[network]]
cidrs = ["198.51.100.0/24"]
bank = "strict"
)",
                               "t.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  Components comps;
  auto table = PolicyTable::build(*cfg, builtin_stages(), comps);
  ASSERT_TRUE(table) << table.error().message;
  const Policy& def = table->select("default", std::nullopt);
  const Policy& lenient = table->select("default", conf::parse_ip("192.0.2.1"));
  const Policy& strict = table->select("default", conf::parse_ip("198.51.100.1"));
  EXPECT_EQ(def.banned_rules, "default");
  EXPECT_EQ(lenient.banned_rules, "none");
  EXPECT_EQ(strict.banned_rules, "strict");
  EXPECT_EQ(table->with_banks(def, {"lenient"}).banned_rules, "none");
  ASSERT_EQ(def.pipeline->stages().size(), 1u);
  Stage& stage = *def.pipeline->stages()[0];

  std::string msg = multipart(attachment("x", "x.exe") + attachment("hi", "a.txt"));
  auto m = store(msg);
  ClientInfo client;
  Envelope env;
  struct Want {
    const Policy* pol;
    std::vector<std::string> reasons;
  } wants[] = {
      {&def, {"banned name 'x.exe' (rule 5 of default)"}},
      {nullptr, {"banned name 'x.exe' (rule 5 of default)"}},
      {&lenient, {}},
      {&strict, {"banned name 'a.txt' (rule 1 of strict)"}},
  };
  for (const auto& w : wants) {
    SCOPED_TRACE(w.pol ? w.pol->banned_rules : "no policy");
    MessageContext ctx{"t", client, env, *m};
    ctx.policy = w.pol;
    Verdict v = run_stage(stage, ctx);
    EXPECT_EQ(v.action, Action::Continue);
    std::vector<std::string> got;
    for (auto& f : ctx.findings) got.push_back(f.reason);
    EXPECT_EQ(got, w.reasons);
  }
  EXPECT_TRUE(fs::is_empty(s.dir / "spool"));
}

}  // namespace
