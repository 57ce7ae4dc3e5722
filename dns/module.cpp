#include "dns/module.hpp"
namespace sigil::dns {
std::string_view module_name() noexcept { return "dns"; }
}  // namespace sigil::dns
