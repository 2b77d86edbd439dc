#include "net/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fmt/format.h>

#include <array>
#include <memory>

namespace mx::net {

namespace {

// OpenSSL's error queue as one line (and emptied, so the next call starts clean).
std::string openssl_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    std::array<char, 256> buf{};
    ERR_error_string_n(e, buf.data(), buf.size());
    if (!out.empty()) out += "; ";
    out += buf.data();
  }
  return out.empty() ? std::string("unknown OpenSSL error") : out;
}

std::string subject_of(SSL_CTX* ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (cert == nullptr) return {};
  char* text = X509_NAME_oneline(X509_get_subject_name(cert), nullptr, 0);
  if (text == nullptr) return {};
  std::string out(text);
  OPENSSL_free(text);
  return out;
}

}  // namespace

expected<std::shared_ptr<tls_context>, std::string> load_tls_context(const std::string& cert_file,
                                                                     const std::string& key_file) {
  ERR_clear_error();
  auto t = std::make_shared<tls_context>(asio::ssl::context(asio::ssl::context::tls_server));
  SSL_CTX* ctx = t->ctx.native_handle();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return unexpected(fmt::format("TLS: cannot set the minimum version: {}", openssl_errors()));
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  // TLS 1.2 only (1.3 has its own, all AEAD and forward secret).
  if (SSL_CTX_set_cipher_list(ctx,
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1) {
    return unexpected(fmt::format("TLS: cannot set the cipher list: {}", openssl_errors()));
  }
  // Each listener gets its own session-id context so a session resumed on another listener
  // cannot skip what that listener requires.
  // One TLS 1.3 ticket per handshake (OpenSSL sends two): mail clients rarely resume twice.
  SSL_CTX_set_num_tickets(ctx, 1);
  static const unsigned char sid_ctx[] = "mxguard-smtpd";
  SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);

  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return unexpected(
        fmt::format("{}: cannot use as certificate chain (tls.cert): {}", cert_file, openssl_errors()));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    const std::string why = openssl_errors();
    if (why.find("key values mismatch") != std::string::npos) {
      return unexpected(fmt::format("{} (tls.key) does not match the certificate in {} (tls.cert)",
                                    key_file, cert_file));
    }
    return unexpected(fmt::format("{}: cannot use as private key (tls.key): {}", key_file, why));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return unexpected(fmt::format("{} does not match the certificate in {}: {}", key_file,
                                  cert_file, openssl_errors()));
  }
  t->cert_file = cert_file;
  t->subject = subject_of(ctx);
  return t;
}

std::string tls_version(void* ssl) {
  const char* v = SSL_get_version(static_cast<SSL*>(ssl));
  return v != nullptr ? v : "";
}

std::string tls_cipher(void* ssl) {
  const char* c = SSL_get_cipher_name(static_cast<SSL*>(ssl));
  return c != nullptr ? c : "";
}

std::string describe_tls(void* ssl) {
  int alg_bits = 0;
  const int bits = SSL_get_cipher_bits(static_cast<SSL*>(ssl), &alg_bits);
  return fmt::format("{} with cipher {} ({}/{} bits)", tls_version(ssl), tls_cipher(ssl), bits,
                     alg_bits);
}

}  // namespace mx::net
