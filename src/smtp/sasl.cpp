#include "smtp/sasl.hpp"

#include <utility>

#include "core/base64.hpp"

namespace mx::smtp::sasl {

namespace {

reply cannot_decode() {
  return reply::make(501, "5.5.2", "Cannot decode response");
}

}  // namespace

expected<std::string, reply> decode_response(std::string_view line, response_kind kind) {
  if (kind == response_kind::continuation && line == "*") {
    return unexpected(reply::make(501, "5.7.0", "Authentication aborted"));
  }
  if (kind == response_kind::initial && line == "=") return std::string();
  auto decoded = base64::decode(line);
  if (!decoded) return unexpected(cannot_decode());
  return std::move(*decoded);
}

expected<plain_credentials, reply> parse_plain(std::string_view message) {
  const auto invalid = [] {
    return unexpected(reply::make(501, "5.5.2", "Invalid PLAIN response"));
  };
  const std::size_t a = message.find('\0');
  const std::size_t b = a == std::string_view::npos ? a : message.find('\0', a + 1);
  if (b == std::string_view::npos || message.find('\0', b + 1) != std::string_view::npos) {
    return invalid();
  }
  plain_credentials c{std::string(message.substr(0, a)),
                      std::string(message.substr(a + 1, b - a - 1)),
                      std::string(message.substr(b + 1))};
  if (c.authcid.empty() || (!c.authzid.empty() && c.authzid != c.authcid)) return invalid();
  return c;
}

expected<plain_credentials, reply> decode_plain(std::string_view base64_line, response_kind kind) {
  auto message = decode_response(base64_line, kind);
  if (!message) return unexpected(message.error());
  return parse_plain(*message);
}

expected<login_credentials, reply> finish_login(std::string user, std::string password) {
  if (user.empty() || user.find('\0') != std::string::npos) {
    return unexpected(reply::make(501, "5.5.2", "Invalid LOGIN response"));
  }
  return login_credentials{std::move(user), std::move(password)};
}

reply login_user_challenge() {
  return reply{334, "", {base64::encode("Username:")}};
}
reply login_password_challenge() {
  return reply{334, "", {base64::encode("Password:")}};
}
reply plain_challenge() {
  return reply{334, "", {""}};
}

std::string encode_plain(std::string_view authzid, std::string_view authcid,
                         std::string_view password) {
  std::string message;
  message.reserve(authzid.size() + authcid.size() + password.size() + 2);
  message.append(authzid).push_back('\0');
  message.append(authcid).push_back('\0');
  message.append(password);
  return base64::encode(message);
}

}  // namespace mx::smtp::sasl
