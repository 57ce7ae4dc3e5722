// dkim/module.hpp — libopendkim wrapper: synchronous signer and stepwise verifier, no I/O. Arrives with issues 3 and 4; today it holds only this module's identity so the layout and link graph are in place.
#pragma once
#include <string_view>
namespace sigil::dkim {
// The module's name as used in logs ("dkim").
std::string_view module_name() noexcept;
}  // namespace sigil::dkim
