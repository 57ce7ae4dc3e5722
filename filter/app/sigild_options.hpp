// filter/app/sigild_options.hpp — sigild's command line: -c/--config FILE,
// -h/--help, -V/--version.  It parses and prints help or the version; it
// loads no configuration and starts nothing (sigild_main.cpp does).  The man
// page sigild(8), docs/man/sigild.8.md, describes the same options.
#pragma once
#include <optional>
#include <string>

namespace sigil::filter {

struct SigildOptions {
  std::string config;       // -c FILE; empty: the default path (sigild_main.cpp)
  std::optional<int> exit;  // set: exit with this status now (help, version, bad option)
};

// Parses argv.  --help and --version print on stdout and set exit = 0; an
// unknown or incomplete option prints a pointer to --help on stderr and sets
// exit = 2.
SigildOptions parse_sigild_options(int argc, char** argv);

}  // namespace sigil::filter
