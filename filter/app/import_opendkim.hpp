// filter/app/import_opendkim.hpp — `sigil import opendkim`: turns an
// opendkim.conf (opendkim.conf(5): `Key value` lines, `#` comments, datasets
// `file:`, `refile:`, `csl:` and plain lists) and the KeyTable, SigningTable
// and host-list files it names into an equivalent sigil.toml text.
//
// Pure: the caller reads the files (opendkim_referenced_files says which) and
// passes their contents, so the conversion is testable without a file
// system.  Every setting without a Sigil equivalent is written out as a
// `# not imported: Key Value (why)` comment, never dropped.
// Implements no RFC itself; the header lists follow RFC 6376 §5.4.1 as
// OpenDKIM applies it.  Does not: check the result (sigil check-config
// does), read LDAP/SQL/Lua datasets, or touch the key files.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sigil::filter {

struct OpendkimSetting {
  std::string key;    // as written (OpenDKIM compares names case-insensitively)
  std::string value;  // the rest of the line, trimmed
  int line = 0;
};

// The settings of an opendkim.conf text, in file order.
std::vector<OpendkimSetting> parse_opendkim_conf(std::string_view text);

// The files the conversion reads (KeyTable, SigningTable, InternalHosts, ...
// given as `file:`, `refile:` or an absolute path).
std::vector<std::string> opendkim_referenced_files(const std::vector<OpendkimSetting>& settings);

// Path -> contents of the files above; a missing entry is reported in the
// output as not imported.
using OpendkimFiles = std::map<std::string, std::string>;

// The sigil.toml text equivalent to `settings`.
std::string convert_opendkim(const std::vector<OpendkimSetting>& settings,
                             const OpendkimFiles& files);

// The command: sigil import opendkim [CONF] [--out FILE].  Returns the exit
// status (2: usage).
int import_opendkim_cli(int argc, char** argv);

}  // namespace sigil::filter
