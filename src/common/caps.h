#pragma once
// Linux capabilities of this process, for saying which one is missing when the kernel refuses
// something (a bare EPERM from libbpf or a sysctl write does not tell an operator what to grant).
#include <initializer_list>
#include <string>

namespace vane {

// Whether CAP (CAP_BPF, ...) is in this process's effective set.
bool have_capability(int cap);
// "CAP_NET_ADMIN" etc.
std::string capability_name(int cap);
// For an operation that failed with ERR (an errno, either sign): when ERR is EPERM or EACCES and
// any of CAPS is not effective, " (vaned lacks CAP_A, CAP_B)"; otherwise "".
std::string missing_capability_hint(int err, std::initializer_list<int> caps);

}  // namespace vane
