// filter/app/import_opendkim_cli.cpp — the `sigil import opendkim [CONF]
// [--out FILE]` command: reads CONF (default /etc/opendkim.conf) and the
// table files it names, and writes convert_opendkim's sigil.toml to stdout or
// to FILE (created with O_EXCL: an existing file is never replaced).
// Does not: convert (import_opendkim.cpp) or check the result.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "filter/app/help.hpp"
#include "filter/app/import_opendkim.hpp"

namespace sigil::filter {

namespace {

bool read_text(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

int write_new(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) {
    std::cerr << "sigil import opendkim: " << path << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    std::cerr << "sigil import opendkim: " << path << ": write failed\n";
    ::unlink(path.c_str());
    return 1;
  }
  std::cerr << "sigil: wrote " << path << "; check it with sigil check-config " << path << "\n";
  return 0;
}

}  // namespace

int import_opendkim_cli(int argc, char** argv) {
  std::string conf_path = "/etc/opendkim.conf", out;
  bool have_conf = false;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--out" && i + 1 < argc) out = argv[++i];
    else if (a.empty() || a[0] == '-' || have_conf) return sigil_usage_error("import", "opendkim");
    else {
      conf_path = a;
      have_conf = true;
    }
  }
  std::string text;
  if (!read_text(conf_path, text)) {
    std::cerr << "sigil import opendkim: " << conf_path << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  auto settings = parse_opendkim_conf(text);
  OpendkimFiles files;
  for (auto& p : opendkim_referenced_files(settings)) {
    std::string body;
    if (read_text(p, body)) files[p] = body;
    else std::cerr << "sigil import opendkim: warning: " << p << ": " << std::strerror(errno) << "\n";
  }
  auto toml = convert_opendkim(settings, files);
  if (out.empty()) {
    std::cout << toml;
    return std::cout ? 0 : 1;
  }
  return write_new(out, toml);
}

}  // namespace sigil::filter
