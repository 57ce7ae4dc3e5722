// filter/app/privileges.hpp — who sigild runs as: [daemon] user, group and
// allow_root, and the privilege drop.
//
// Started as root, sigild binds its listeners and loads its keys, then
// drops for good: setgroups (the user's supplementary groups), setgid,
// setuid; then it checks that setuid(0) fails and every uid and gid is the
// daemon's, and refuses to serve otherwise.  Started as root with no user it
// refuses to run unless allow_root = true.  Started as another user with a
// user set, it runs only if it already is that user (and group).
// Does not: bind or load keys.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "conf/config.hpp"
#include "conf/result.hpp"

namespace sigil::filter {

struct RunAs {
  bool drop = false;  // started as root with a user: drop to it
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups (the drop's setgroups)
  std::string user;   // [daemon] user; empty: runs as started
  std::string group;  // "NAME (gid N)", for the log
};

// Decides from [daemon] and the effective uid.  Failure (Config), with the
// fix in the message: root without user and without allow_root; an unknown
// user or group; not root and not already the configured user and group.
Result<RunAs> resolve_run_as(const conf::DaemonConfig& d);

// Drops to `who` (only when who.drop) and checks that root cannot be
// regained.  Failure (Internal): a call failed or the check found root
// still reachable; the process must not serve.
Status drop_privileges(const RunAs& who);

// What sigild does between binding and serving: drop_privileges, then the
// checks of daemon_access.hpp as the user it now is.  Failure: the drop
// failed, or a directory it writes is not writable (message: which, and
// as whom).  A key file the user cannot read again is a warning (logged):
// it was loaded, but a SIGHUP reload will be refused until it is fixed.
Status become_daemon_user(const RunAs& who, const conf::Config& cfg);

}  // namespace sigil::filter
