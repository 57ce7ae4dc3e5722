// filter/app/check_config_cli.cpp — see check_config_cli.hpp.
#include "filter/app/check_config_cli.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "filter/app/config_path.hpp"
#include "filter/app/daemon_access.hpp"
#include "filter/app/privileges.hpp"
#include "filter/core/policy.hpp"
#include "filter/stages/registry.hpp"
#include "keys/key_owner.hpp"

namespace sigil::filter {

namespace {

std::vector<std::string> access_problems(const conf::Config& cfg, bool keys) {
  auto out = unwritable_dirs(cfg);
  if (keys)
    for (auto& k : unreadable_keys(cfg))
      out.push_back(k + ": a SIGHUP reload (after the privilege drop) could not read it");
  return out;
}

// access_problems as `who`, in a child that has dropped to it; the lines
// come back through a pipe.
std::vector<std::string> access_problems_as(const RunAs& who, const conf::Config& cfg, bool keys) {
  int fds[2];
  if (::pipe(fds) != 0) return {"cannot check as user " + who.user + ": pipe failed"};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string text;
    if (auto s = drop_privileges(who); !s) {
      text = s.error().message + "\n";
    } else {
      for (auto& p : access_problems(cfg, keys)) text += p + "\n";
    }
    auto n = ::write(fds[1], text.data(), text.size());
    ::_exit(n == static_cast<ssize_t>(text.size()) ? 0 : 1);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
    return {"cannot check as user " + who.user + ": the checking process failed"};
  std::vector<std::string> out;
  for (std::size_t at = 0, nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1)
    out.push_back(text.substr(at, nl - at));
  return out;
}

// The access check as the user sigild would run as; false when it found
// problems (printed).  What cannot be checked here (another user, not
// root; a user unknown on this machine with --no-keys) is a note.
bool check_access(const conf::Config& cfg, bool keys) {
  auto d = cfg.daemon;
  if (::geteuid() != 0 && !d.user.empty()) {
    auto uid = keys::daemon_uid(d.user);
    if (!uid || uid.value() != ::geteuid()) {
      std::cerr << "note: not checked what user " << d.user
                << " can write and read: run sigil check-config as root or as " << d.user
                << "\n";
      return true;
    }
  }
  if (::geteuid() == 0 && d.user.empty() && !d.allow_root) {
    std::cerr << "note: started as root, sigild refuses to run with this configuration: it has "
                 "no [daemon] user (set one, or allow_root = true)\n";
    d.allow_root = true;
  }
  auto who = resolve_run_as(d);
  if (!who) {
    std::cerr << (keys ? "" : "note: ") << who.error().message << "\n";
    return !keys;
  }
  auto problems = who->drop ? access_problems_as(*who, cfg, keys) : access_problems(cfg, keys);
  for (auto& p : problems)
    std::cerr << "as user " << keys::describe_uid(who->uid) << ": " << p << "\n";
  return problems.empty();
}

}  // namespace

int check_config_cli(int argc, char** argv) {
  // --no-keys: check a configuration on a machine without its key files.
  bool no_keys = false;
  std::string file;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--no-keys" && !no_keys) no_keys = true;
    else if (file.empty() && !a.empty() && a[0] != '-') file = a;
    else return 2;
  }
  auto chosen = choose_config(file);
  auto cfg = chosen.path.empty() ? conf::load_string(conf::embedded_default(), "<embedded>")
                                 : conf::load_file(chosen.path);
  if (!cfg) {
    std::cerr << cfg.error().message << "\n";
    return 1;
  }
  // Before the policy table: the check may fork, and nothing runs threads yet.
  bool access_ok = check_access(cfg.value(), !no_keys);
  // Build the policy table too: it refuses stages this build lacks and
  // loads the DKIM keys (unless --no-keys).  This constructs no sockets,
  // resolvers or scanner connections.
  Components components;
  components.load_keys = !no_keys;
  auto table = PolicyTable::build(cfg.value(), builtin_stages(), components);
  if (!table) {
    std::cerr << table.error().message << "\n";
    return 1;
  }
  if (!access_ok) return 1;
  std::cout << (chosen.path.empty() ? std::string("the embedded default") : chosen.path)
            << ": OK (" << cfg->listeners.size() << " listener(s), " << cfg->banks.size()
            << " bank(s), forward " << cfg->forward.target.text << ")\n";
  return 0;
}

}  // namespace sigil::filter
