// filter/app/privileges.cpp — see privileges.hpp.
#include "filter/app/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "filter/app/daemon_access.hpp"
#include "filter/core/log.hpp"
#include "keys/key_owner.hpp"

namespace sigil::filter {

namespace {

Status looked_up(RunAs& who, const conf::DaemonConfig& d) {
  std::vector<char> buf(16384);
  passwd pw{}, *pwp = nullptr;
  if (::getpwnam_r(d.user.c_str(), &pw, buf.data(), buf.size(), &pwp) != 0 || !pwp)
    return make_error(ErrorKind::Config, "daemon.user " + d.user + ": no such user");
  who.uid = pw.pw_uid;
  who.gid = pw.pw_gid;
  std::vector<char> gbuf(16384);
  group gr{}, *grp = nullptr;
  if (!d.group.empty()) {
    if (::getgrnam_r(d.group.c_str(), &gr, gbuf.data(), gbuf.size(), &grp) != 0 || !grp)
      return make_error(ErrorKind::Config, "daemon.group " + d.group + ": no such group");
    who.gid = gr.gr_gid;
  } else if (::getgrgid_r(who.gid, &gr, gbuf.data(), gbuf.size(), &grp) != 0) {
    grp = nullptr;
  }
  who.group = (grp ? std::string(gr.gr_name) + " " : std::string()) + "(gid " +
              std::to_string(who.gid) + ")";
  // The user's supplementary groups, with the daemon's group among them.
  int n = 64;
  for (int tries = 0; tries < 4; ++tries) {
    who.groups.assign(static_cast<std::size_t>(n), 0);
    if (::getgrouplist(d.user.c_str(), who.gid, who.groups.data(), &n) >= 0) {
      who.groups.resize(static_cast<std::size_t>(n));
      return Ok{};
    }
  }
  return make_error(ErrorKind::Config, "daemon.user " + d.user + ": cannot list its groups");
}

}  // namespace

Result<RunAs> resolve_run_as(const conf::DaemonConfig& d) {
  RunAs who;
  uid_t euid = ::geteuid();
  if (d.user.empty()) {
    if (euid == 0 && !d.allow_root)
      return make_error(ErrorKind::Config,
                        "started as root with no [daemon] user: refusing to run as root; set "
                        "[daemon] user = \"sigil\" (sigild drops to it after binding its "
                        "listeners and loading its keys), or allow_root = true");
    who.uid = euid;
    who.gid = ::getegid();
    return who;
  }
  who.user = d.user;
  if (auto s = looked_up(who, d); !s) return s.error();
  if (euid == 0) {
    who.drop = who.uid != 0 || who.gid != 0;
    return who;
  }
  if (euid != who.uid || ::getegid() != who.gid)
    return make_error(ErrorKind::Config,
                      "[daemon] user is " + d.user + (d.group.empty() ? "" : ", group " + d.group) +
                          ", but sigild was started as " + keys::describe_uid(euid) +
                          " (gid " + std::to_string(::getegid()) +
                          "), not root: start it as root (it drops to " + d.user + ") or as " +
                          d.user);
  return who;
}

static Status failed(const std::string& what) {
  return make_error(ErrorKind::Internal, "privilege drop: " + what + ": " + std::strerror(errno));
}

Status drop_privileges(const RunAs& who) {
  if (!who.drop) return Ok{};
  if (::setgroups(who.groups.size(), who.groups.data()) != 0) return failed("setgroups");
  if (::setgid(who.gid) != 0) return failed("setgid " + std::to_string(who.gid));
  if (::setuid(who.uid) != 0) return failed("setuid " + std::to_string(who.uid));
  // Root must be out of reach now: every id is the daemon's, and setuid(0)
  // fails.
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (::getresuid(&ru, &eu, &su) != 0 || ::getresgid(&rg, &eg, &sg) != 0)
    return failed("getresuid");
  if (ru != who.uid || eu != who.uid || su != who.uid || rg != who.gid || eg != who.gid ||
      sg != who.gid)
    return make_error(ErrorKind::Internal, "privilege drop: ids are not the daemon user's");
  if (who.uid != 0 && ::setuid(0) == 0)
    return make_error(ErrorKind::Internal, "privilege drop: setuid(0) still succeeds");
  return Ok{};
}

Status become_daemon_user(const RunAs& who, const conf::Config& cfg) {
  if (auto s = drop_privileges(who); !s) return s;
  std::string as = keys::describe_uid(::geteuid());
  if (who.drop)
    log::main().info("dropped privileges to user {}, group {}, {} groups in all", as, who.group,
                     who.groups.size());
  auto dirs = unwritable_dirs(cfg);
  if (!dirs.empty()) {
    std::string msg = "running as " + as + ", sigild cannot write where it must:";
    for (const auto& d : dirs) msg += "\n  " + d;
    return make_error(ErrorKind::Config, msg);
  }
  for (const auto& k : unreadable_keys(cfg))
    log::main().warn("{}: not readable by {}: a SIGHUP reload will be refused until it is "
                     "(chown {} FILE; mode 0600)",
                     k, as, who.user.empty() ? as : who.user);
  return Ok{};
}

}  // namespace sigil::filter
