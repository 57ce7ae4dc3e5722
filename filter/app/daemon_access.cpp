// filter/app/daemon_access.cpp — see daemon_access.hpp.
#include "filter/app/daemon_access.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

namespace sigil::filter {

namespace {

// Empty when `dir` (or, when it does not exist yet, its nearest existing
// parent, where it would be created) is a directory this process can write
// and search; else why not.
std::string dir_problem(const std::string& dir) {
  std::string at = dir;
  struct stat st {};
  auto where = [&] { return at == dir ? std::string() : "its parent " + at + " "; };
  while (::stat(at.c_str(), &st) != 0) {
    if (errno != ENOENT && errno != ENOTDIR) return where() + std::strerror(errno);
    auto slash = at.find_last_of('/');
    if (slash == std::string::npos) return "no existing parent";
    at = slash == 0 ? "/" : at.substr(0, slash);
  }
  if (!S_ISDIR(st.st_mode)) return where() + "is not a directory";
  if (::access(at.c_str(), W_OK | X_OK) != 0)
    return where() + "is not writable (" + std::strerror(errno) + ")";
  return "";
}

bool quarantines(const conf::Config& cfg) {
  for (const auto& [name, bank] : cfg.banks)
    if (bank.quarantine && !bank.quarantine->empty()) return true;
  return false;
}

}  // namespace

std::vector<std::string> unwritable_dirs(const conf::Config& cfg) {
  std::vector<std::pair<std::string, std::string>> dirs = {{"daemon.spool_dir",
                                                            cfg.daemon.spool_dir}};
  if (!cfg.decode.temp_dir.empty()) dirs.emplace_back("decode.temp_dir", cfg.decode.temp_dir);
  if (quarantines(cfg)) dirs.emplace_back("quarantine.dir", cfg.quarantine.dir);
  if (cfg.forward.target.kind == conf::ForwardTarget::Kind::Maildir)
    dirs.emplace_back("forward.target", cfg.forward.target.path);
  std::vector<std::string> out;
  for (const auto& [key, dir] : dirs)
    if (auto why = dir_problem(dir); !why.empty()) out.push_back(key + " " + dir + ": " + why);
  return out;
}

std::vector<std::string> unreadable_keys(const conf::Config& cfg) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& k : cfg.keys) {
    if (!seen.insert(k.file).second) continue;
    int fd = ::open(k.file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      out.push_back("key " + k.name + " (" + k.file + "): " + std::strerror(errno));
      continue;
    }
    ::close(fd);
  }
  return out;
}

}  // namespace sigil::filter
