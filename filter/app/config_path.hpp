// filter/app/config_path.hpp — which configuration sigild and `sigil
// check-config` use when none is named: the default path
// (SIGIL_DEFAULT_CONFIG, a CMake cache variable, /etc/sigil/sigil.toml
// unless set otherwise) when that file exists, else the embedded default
// (conf/sigil.toml compiled in).
//
// Does not: read or check the file (conf/loader.hpp does).
#pragma once

#include <string>

namespace sigil::filter {

// The compiled-in default path.
const char* default_config_path();

struct ConfigChoice {
  std::string path;     // the file to load; empty: the embedded default
  std::string why;      // for the start log line, e.g. "/etc/sigil/sigil.toml (the default path)"
};

// `named` when not empty (-c FILE, check-config FILE); else `default_path`
// when it exists (whatever it is: a directory or an unreadable file is
// refused by the loader, never silently skipped); else the embedded default.
ConfigChoice choose_config(const std::string& named, const std::string& default_path);
ConfigChoice choose_config(const std::string& named);

}  // namespace sigil::filter
