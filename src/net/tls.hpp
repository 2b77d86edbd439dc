// net/tls: the server TLS context of the SMTP listeners (OpenSSL 3 through asio::ssl), built from
// [tls] cert and key. One immutable context per settings generation: SIGHUP builds a new one and
// new sessions use it, sessions already under TLS keep theirs.
//
// SECURITY:
//  - TLS 1.2 and 1.3 only (RFC 8996 retired 1.0 and 1.1); TLS 1.2 with forward-secret AEAD
//    ciphers only (ECDHE with AES-GCM or ChaCha20-Poly1305, the Mozilla "intermediate" set).
//  - No TLS compression (CRIME), no client-initiated renegotiation (a CPU exhaustion vector).
//  - The key must match the certificate: a mismatch is a start-up (or reload) error naming both
//    files, never a server that fails every handshake.
//  - The key file is read once, at start (before privileges are dropped) and on SIGHUP.
// RFCs: 3207 (STARTTLS), 8314 (implicit TLS for submission), 8996 (no TLS 1.0/1.1), 7525/9325
//   (recommended ciphers).
#pragma once

#include <memory>
#include <string>

#include <asio/ssl/context.hpp>

#include "core/result.hpp"

namespace mx::net {

struct tls_context {
  explicit tls_context(asio::ssl::context c) : ctx(std::move(c)) {}
  asio::ssl::context ctx;
  std::string cert_file;
  std::string subject;  // the leaf certificate's subject, for the start-up log line
};

// Reads the PEM chain and key. The error names the file and OpenSSL's reason.
expected<std::shared_ptr<tls_context>, std::string> load_tls_context(const std::string& cert_file,
                                                                     const std::string& key_file);

// "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" for a connected SSL*, as Postfix
// writes it in the Received header; `ssl` is an SSL* (void* keeps OpenSSL out of this header).
std::string describe_tls(void* ssl);
// "TLSv1.3" and "TLS_AES_256_GCM_SHA384", for log lines.
std::string tls_version(void* ssl);
std::string tls_cipher(void* ssl);

}  // namespace mx::net
