// filter/stages/decode/temp_dir.hpp — the private temporary directory of one
// message's decode walk, and the file descriptors made in it.
//
// An archive bigger than 64 KiB is written to a file there so that
// libarchive can read it back (archives.cpp); the directory is made on first
// use (mkdtemp, mode 0700, under [decode] temp_dir, else $TMPDIR, else
// /tmp), every file is unlinked as soon as it is made and read through its
// fd, and the destructor removes the directory with whatever is left in it
// (RAII: also on exceptions).
//
// Does not: write anything itself but through write_all, keep names of the
// files, or clean up directories left by a process that died.  Implements
// no RFC.
#pragma once

#include <cstddef>
#include <string>

namespace sigil::filter::decode {

// An owned file descriptor (-1: none), closed when dropped.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd& operator=(Fd&& o) noexcept;
  ~Fd() { reset(); }
  void reset();
};

// The message's private directory: made on first use (mkdtemp: mode 0700),
// removed with whatever is left in it by the destructor.  Files are
// unlinked as soon as they are made, so it is normally empty.
class TempDir {
 public:
  // `base` "": $TMPDIR when it is an absolute path, else /tmp.
  explicit TempDir(std::string base);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // A new, already unlinked file open for reading and writing; fd -1 and
  // `why` on failure.
  Fd file(std::string& why);

 private:
  std::string base_;
  std::string path_;
  bool failed_ = false;
};

// Writes all `n` bytes at `p` to `fd` (retrying on EINTR); false on error.
bool write_all(int fd, const char* p, std::size_t n);

}  // namespace sigil::filter::decode
