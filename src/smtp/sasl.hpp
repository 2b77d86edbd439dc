// smtp/sasl: the client responses of SMTP AUTH PLAIN and LOGIN, decoded into credentials. Pure
// functions: the session (smtp/session) drives the exchange and calls these on each response line;
// the shell never decodes anything itself.
//
//   AUTH PLAIN [initial-response]   message = [authzid] NUL authcid NUL passwd   (RFC 4616 2)
//   AUTH LOGIN [initial-response]   "Username:" and "Password:" challenges, one base64 line each
//                                   (draft-murchison-sasl-login; what every client still sends)
//
// SECURITY:
//  - Base64 is strict (core/base64): one credential has exactly one encoding, so no filter or log
//    can be dodged with padding tricks or whitespace. "=" is an empty response only as an initial
//    response (RFC 4954 4); "*" cancels only a continuation line (RFC 4954 4: 501).
//  - PLAIN must hold exactly two NULs; acting for another identity (an authzid that is neither
//    empty nor the authcid itself) is refused, as mxguard offers no proxy authorization.
//  - A LOGIN user name that is empty or holds a NUL is refused: a NUL would let one credential
//    mean two users to C code further down.
//  - Errors are replies, never exceptions: every input is a value of decode_*.
//  - The passwords returned here are secrets: callers must not log them.
// RFCs: 4954 (4: responses, "=", "*"; 6: 501, 535), 4616 (PLAIN), 4648 (base64).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "smtp/reply.hpp"

namespace mx::smtp::sasl {

struct plain_credentials {
  std::string authzid;   // empty, or equal to authcid (anything else is refused)
  std::string authcid;   // the user who authenticates; never empty, never holds a NUL
  std::string password;  // may be empty; never holds a NUL (the PLAIN message has two NULs)

  friend bool operator==(const plain_credentials&, const plain_credentials&) = default;
};

struct login_credentials {
  std::string user;
  std::string password;

  friend bool operator==(const login_credentials&, const login_credentials&) = default;
};

// Where a response line came from: the AUTH command's argument or a line after a 334 challenge.
enum class response_kind : std::uint8_t {
  initial,       // "AUTH PLAIN <here>": "=" means an empty response
  continuation,  // a line after "334 ...": "*" cancels the exchange
};

// One response line to its octets: 501 5.7.0 "Authentication aborted" for a "*" continuation,
// 501 5.5.2 "Cannot decode response" for anything that is not strict base64.
expected<std::string, reply> decode_response(std::string_view line, response_kind kind);

// A decoded PLAIN message to its three fields; 501 5.5.2 "Invalid PLAIN response" unless it has
// exactly two NULs, a non-empty authcid, and an authzid that is empty or the authcid.
expected<plain_credentials, reply> parse_plain(std::string_view message);

// decode_response then parse_plain: one PLAIN response line to credentials.
expected<plain_credentials, reply> decode_plain(std::string_view base64_line,
                                                response_kind kind = response_kind::continuation);

// The LOGIN exchange's last step: both responses already decoded (decode_response). 501 5.5.2
// "Invalid LOGIN response" for an empty user or one that holds a NUL.
expected<login_credentials, reply> finish_login(std::string user, std::string password);

// The 334 challenges of LOGIN ("Username:" and "Password:", base64) and PLAIN (empty).
reply login_user_challenge();
reply login_password_challenge();
reply plain_challenge();

// The base64 PLAIN response a client would send (tests and the fuzz target's round trip).
std::string encode_plain(std::string_view authzid, std::string_view authcid,
                         std::string_view password);

}  // namespace mx::smtp::sasl
