// filter/app/check_config_cli.hpp — `sigil check-config [--no-keys] [FILE]`:
// checks a configuration as sigild would start with it, without starting
// anything.  No FILE: the one sigild reads without -c (config_path.hpp).
//
// It loads the file, builds the policy table (stages this build lacks are
// refused; the DKIM keys are loaded with their mode and owner checks unless
// --no-keys), and checks as the [daemon] user what that user must use
// (daemon_access.hpp: the directories sigild writes, and the key files a
// SIGHUP re-reads after the privilege drop).  Run as root with a user set,
// that check runs in a child process that has dropped to the user.
// Exit 0: OK; 1: refused (every reason on stderr); 2: usage.
// Does not: open sockets, resolvers or scanner connections.
#pragma once

namespace sigil::filter {

// argv[1] is "check-config".
int check_config_cli(int argc, char** argv);

}  // namespace sigil::filter
