// filter/app/help.hpp — the help texts of the `sigil` command line: the usage
// (every command once, one line each) and each command's own --help.  It
// prints text only; it parses nothing but the command words and runs no
// command.  The man page sigil(1) (docs/man/sigil.1.md) says the same at length.
#pragma once
#include <iosfwd>
#include <string_view>

namespace sigil::filter {

// `sigil --help`: every command, one line each, on `out`.
void sigil_usage(std::ostream& out);

// True when argv asks for help: `sigil --help|-h|help`, or --help/-h among
// a command's arguments.
bool sigil_wants_help(int argc, char** argv);

// The help for what argv names (the whole usage, a command or a command
// group such as `keys`), on stdout; returns 0.
int sigil_help(int argc, char** argv);

// A command used wrongly: its synopsis (or, for an unknown command, a pointer
// to --help) on stderr; returns 2.
int sigil_usage_error(std::string_view command, std::string_view subcommand = {});

}  // namespace sigil::filter
