#pragma once
// The control socket: length-prefixed protobuf over a Unix stream socket, served on the daemon's
// io_context. Every connection is independent and bounded in time, so a stalled or hostile client
// can delay nobody but itself.
#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "control/codec.h"

namespace vane::control {

struct ServerOptions {
  std::filesystem::path socket_path = "/run/vane/vaned.sock";
  // Deadline for reading one whole request and for writing one response.
  std::chrono::milliseconds io_timeout{5000};
  // Connections beyond this get ERROR_CODE_BUSY and are closed.
  std::size_t max_connections = 16;
};

struct ServerStats {
  uint64_t accepted = 0;
  uint64_t requests = 0;      // handed to the handler
  uint64_t bad_requests = 0;  // answered with an error without reaching the handler
  uint64_t denied = 0;        // peer uid not allowed
  uint64_t busy = 0;          // refused over max_connections
  uint64_t timeouts = 0;      // closed for missing io_timeout
  std::size_t active = 0;     // connections open now
};

// The only uids allowed: root and whoever the daemon runs as.
bool peer_allowed(uid_t peer_uid, uid_t daemon_euid);

class Server {
 public:
  // Sends the response for one request; callable once, from any thread (the write is posted to the
  // io_context). Dropping it uncalled answers ERROR_CODE_INTERNAL rather than leaving the client hanging.
  // It must not outlive the io_context.
  using Reply = std::function<void(Response)>;
  // Called on the io_context for every valid request (right version, known command). It may answer
  // at once or keep `reply` and answer later (e.g. after a reload). The response's `version` is
  // filled in by the server.
  using Handler = std::function<void(const Request&, Reply reply)>;

  Server(boost::asio::io_context& io, ServerOptions opts, Handler handler);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Creates the socket's directory (0755) if absent, replaces a stale socket, binds the socket
  // mode 0600 and starts accepting. Refuses to replace a socket another process still answers on,
  // or a path that is not a socket. Call on the io_context's thread (or before it runs).
  std::expected<void, std::string> start();
  // Stops accepting, closes every connection and unlinks the socket if it is still the one bound
  // here. Pending replies are discarded. Idempotent; call on the io_context's thread.
  void stop();

  const std::filesystem::path& socket_path() const;
  ServerStats stats() const;

  // Shared with the connections, which may outlive the object by a few completion handlers.
  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace vane::control
