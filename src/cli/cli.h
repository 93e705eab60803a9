#pragma once
// vanectl as a library: argument parsing, one request, output and exit code, with the transport
// injectable so tests can run every command without a daemon.
#include <expected>
#include <functional>
#include <iosfwd>

#include "control/client.h"

namespace vane::cli {

// Exit codes a script can branch on.
enum ExitCode : int {
  kExitOk = 0,
  kExitDaemonError = 1,  // the daemon answered with an error, or the exchange broke mid-way
  kExitUsage = 2,        // bad command line
  kExitUnreachable = 3,  // no daemon at the socket, no permission, or no answer in time
};

using CallResult = std::expected<control::Response, control::ClientError>;
using Transport = std::function<CallResult(const control::ClientOptions&, const control::Request&)>;

int exit_code(const CallResult& result);

// Runs vanectl. Normal output goes to `out`, errors and diagnostics to `err`. Without a transport
// the real control socket is used (control::call).
int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err, Transport transport = {});

}  // namespace vane::cli
