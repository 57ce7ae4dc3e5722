// filter/app/daemon_access.hpp — whether the user sigild runs as can use
// the paths it needs: write the directories it writes (daemon.spool_dir,
// decode.temp_dir, the [quarantine] dir when a bank quarantines, a maildir
// [forward] target), and read its key files again (a SIGHUP reload re-reads
// them after the privilege drop).
//
// Checked with the process's own ids (access(2), open(2)): sigild calls it
// after the drop; `sigil check-config` run as root calls it in a child that
// has dropped to the [daemon] user.  A directory that does not exist yet
// must be creatable: its nearest existing parent is checked.
// Does not: create anything, or check key modes and owners (keys/).
#pragma once

#include <string>
#include <vector>

#include "conf/config.hpp"

namespace sigil::filter {

// One line per directory the process cannot write, naming the key and path.
std::vector<std::string> unwritable_dirs(const conf::Config& cfg);

// One line per [[key]] file the process cannot open for reading.
std::vector<std::string> unreadable_keys(const conf::Config& cfg);

}  // namespace sigil::filter
