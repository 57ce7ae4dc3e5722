// filter/app/config_path.cpp — see config_path.hpp.
#include "filter/app/config_path.hpp"

#include <sys/stat.h>

#ifndef SIGIL_DEFAULT_CONFIG
#error "SIGIL_DEFAULT_CONFIG is set by filter/app/CMakeLists.txt"
#endif

namespace sigil::filter {

const char* default_config_path() { return SIGIL_DEFAULT_CONFIG; }

ConfigChoice choose_config(const std::string& named, const std::string& default_path) {
  if (!named.empty()) return {named, named};
  struct stat st {};
  // lstat: a dangling symlink at the default path is still "there" and the
  // loader says why it cannot be read, rather than the embedded default
  // running in its place.
  if (::lstat(default_path.c_str(), &st) == 0)
    return {default_path, default_path + " (the default path)"};
  return {"", "the embedded default (" + default_path + " does not exist)"};
}

ConfigChoice choose_config(const std::string& named) {
  return choose_config(named, default_config_path());
}

}  // namespace sigil::filter
