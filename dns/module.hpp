// dns/module.hpp — The asynchronous DNS resolver (ldns wire format, Asio I/O, TTL cache). Arrives with issue 4; today it holds only this module's identity so the layout and link graph are in place.
#pragma once
#include <string_view>
namespace sigil::dns {
// The module's name as used in logs ("dns").
std::string_view module_name() noexcept;
}  // namespace sigil::dns
