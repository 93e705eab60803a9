#include "control/codec.h"

#include <limits>

#if __has_include(<google/protobuf/stubs/logging.h>)
#include <google/protobuf/stubs/logging.h>
#define VANE_HAVE_LOG_SILENCER 1
#endif

namespace vane::control {

namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "vane.control"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::ok:
        return "success";
      case Errc::truncated:
        return "truncated frame";
      case Errc::too_large:
        return "frame exceeds the size limit";
      case Errc::malformed:
        return "malformed message";
      case Errc::unreachable:
        return "daemon unreachable";
      case Errc::timeout:
        return "timed out";
      case Errc::closed:
        return "connection closed by peer";
    }
    return "unknown error";
  }
};

// RFC 9003 caps the shutdown communication at 255 octets; longer text would make the speaker
// send a malformed NOTIFICATION.
constexpr std::size_t kMaxShutdownMessage = 255;

}  // namespace

const std::error_category& control_category() {
  static const Category c;
  return c;
}

std::error_code make_error_code(Errc e) {
  return {static_cast<int>(e), control_category()};
}

void put_header(uint32_t length, char out[kHeaderSize]) {
  out[0] = static_cast<char>((length >> 24) & 0xff);
  out[1] = static_cast<char>((length >> 16) & 0xff);
  out[2] = static_cast<char>((length >> 8) & 0xff);
  out[3] = static_cast<char>(length & 0xff);
}

uint32_t get_header(const char in[kHeaderSize]) {
  auto b = [&](int i) { return static_cast<uint32_t>(static_cast<unsigned char>(in[i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

std::expected<std::string, std::error_code> encode_frame(const google::protobuf::MessageLite& msg,
                                                         std::size_t max_body) {
  const std::size_t size = msg.ByteSizeLong();
  if (size > max_body || size > std::numeric_limits<uint32_t>::max()) {
    return std::unexpected(make_error_code(Errc::too_large));
  }
  std::string out(kHeaderSize + size, '\0');
  put_header(static_cast<uint32_t>(size), out.data());
  if (!msg.SerializeToArray(out.data() + kHeaderSize, static_cast<int>(size))) {
    return std::unexpected(make_error_code(Errc::malformed));
  }
  return out;
}

std::expected<std::string_view, std::error_code> split_frame(std::string_view buf, std::size_t max_body,
                                                             std::size_t* consumed) {
  if (buf.size() < kHeaderSize) return std::unexpected(make_error_code(Errc::truncated));
  const uint32_t len = get_header(buf.data());
  if (len > max_body) return std::unexpected(make_error_code(Errc::too_large));
  if (buf.size() - kHeaderSize < len) return std::unexpected(make_error_code(Errc::truncated));
  if (consumed) *consumed = kHeaderSize + len;
  return buf.substr(kHeaderSize, len);
}

Response error_response(ErrorCode code, std::string message) {
  Response r;
  r.set_version(kProtocolVersion);
  r.set_code(code);
  r.set_error(std::move(message));
  return r;
}

std::expected<Request, Response> decode_request(std::string_view body) {
  if (body.size() > kMaxRequestSize) {
    return std::unexpected(
        error_response(ERROR_CODE_TOO_LARGE, "request exceeds " + std::to_string(kMaxRequestSize) + " bytes"));
  }
  Request req;
#ifdef VANE_HAVE_LOG_SILENCER
  // A bad request is answered with an error; protobuf's own log line about it (invalid UTF-8)
  // would only let a client write to the daemon's log.
  google::protobuf::LogSilencer quiet;
#endif
  if (!req.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return std::unexpected(error_response(ERROR_CODE_BAD_REQUEST, "malformed request"));
  }
  if (req.version() == 0) {
    return std::unexpected(error_response(ERROR_CODE_UNSUPPORTED_VERSION, "request carries no protocol version"));
  }
  if (version_major(req.version()) != kProtocolMajor) {
    return std::unexpected(error_response(ERROR_CODE_UNSUPPORTED_VERSION,
                                          "protocol version " + std::to_string(version_major(req.version())) + "." +
                                              std::to_string(version_minor(req.version())) +
                                              " not supported (daemon speaks " + std::to_string(kProtocolMajor) + "." +
                                              std::to_string(kProtocolMinor) + ")"));
  }
  switch (req.command_case()) {
    case Request::COMMAND_NOT_SET:
      // A newer client's command lands here too: its field is unknown to this daemon.
      return std::unexpected(error_response(ERROR_CODE_UNKNOWN_COMMAND, "unknown or missing command"));
    case Request::kNeighborAction: {
      const auto& a = req.neighbor_action();
      if (a.name().empty()) return std::unexpected(error_response(ERROR_CODE_BAD_REQUEST, "neighbor name is empty"));
      if (a.action() == NeighborAction::ACTION_UNSPECIFIED || !NeighborAction::Action_IsValid(a.action())) {
        return std::unexpected(error_response(ERROR_CODE_BAD_REQUEST, "unknown neighbor action"));
      }
      if (a.message().size() > kMaxShutdownMessage) {
        return std::unexpected(error_response(
            ERROR_CODE_BAD_REQUEST, "neighbor message exceeds " + std::to_string(kMaxShutdownMessage) + " bytes"));
      }
      break;
    }
    case Request::kShowReceived:
      if (req.show_received().neighbor().empty())
        return std::unexpected(error_response(ERROR_CODE_BAD_REQUEST, "neighbor name is empty"));
      break;
    default:
      break;
  }
  return req;
}

std::expected<Response, std::error_code> decode_response(std::string_view body) {
  Response resp;
#ifdef VANE_HAVE_LOG_SILENCER
  google::protobuf::LogSilencer quiet;
#endif
  if (body.size() > kMaxResponseSize || !resp.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return std::unexpected(make_error_code(Errc::malformed));
  }
  return resp;
}

std::string_view command_name(const Request& req) {
  if (req.command_case() == Request::COMMAND_NOT_SET) return "none";
  const auto* field = Request::descriptor()->FindFieldByNumber(static_cast<int>(req.command_case()));
  return field ? std::string_view(field->name()) : std::string_view("unknown");
}

}  // namespace vane::control
