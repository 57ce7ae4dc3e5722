// filter/stages/decode/temp_dir.cpp — see temp_dir.hpp.
#include "filter/stages/decode/temp_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string_view>
#include <utility>

namespace sigil::filter::decode {

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    reset();
    fd = o.fd;
    o.fd = -1;
  }
  return *this;
}

void Fd::reset() {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

TempDir::TempDir(std::string base) : base_(std::move(base)) {
  if (base_.empty()) {
    const char* t = std::getenv("TMPDIR");
    base_ = t && *t == '/' ? t : "/tmp";
  }
}

TempDir::~TempDir() {
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

Fd TempDir::file(std::string& why) {
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

}  // namespace sigil::filter::decode
