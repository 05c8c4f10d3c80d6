#include "proxy/net/tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

namespace pgw {

namespace {

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  if (!e) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

}  // namespace

SSL_CTX* make_server_tls(const std::string& cert_file, const std::string& key_file, std::string* error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    *error = cert_file + ": " + openssl_error();
  } else if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    *error = key_file + ": " + openssl_error();
  } else if (SSL_CTX_check_private_key(ctx) != 1) {
    *error = key_file + ": the key does not match " + cert_file;
  } else {
    return ctx;
  }
  SSL_CTX_free(ctx);
  return nullptr;
}

SSL_CTX* make_client_tls(const std::string& ca_file, bool verify, std::string* error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (!ca_file.empty() && SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) {
    *error = ca_file + ": " + openssl_error();
    SSL_CTX_free(ctx);
    return nullptr;
  }
  SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  return ctx;
}

std::string server_end_point(SSL_CTX* ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (!cert) return {};
  int md_nid = 0;
  if (!OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, nullptr)) return {};
  const EVP_MD* md = (md_nid == NID_md5 || md_nid == NID_sha1) ? EVP_sha256() : EVP_get_digestbynid(md_nid);
  if (!md) return {};
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, md, hash, &len) != 1) return {};
  return std::string(reinterpret_cast<char*>(hash), len);
}

TlsChannel::~TlsChannel() {
  if (ssl_) SSL_free(ssl_);  // frees both BIOs
}

void TlsChannel::start_server(SSL_CTX* ctx) {
  ssl_ = SSL_new(ctx);
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl_, in_, out_);
  SSL_set_accept_state(ssl_);
}

void TlsChannel::start_client(SSL_CTX* ctx, const std::string& host, bool verify_host) {
  ssl_ = SSL_new(ctx);
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl_, in_, out_);
  SSL_set_connect_state(ssl_);
  SSL_set_tlsext_host_name(ssl_, host.c_str());
  if (verify_host) SSL_set1_host(ssl_, host.c_str());
}

void TlsChannel::put_cipher(const char* data, size_t len) { BIO_write(in_, data, static_cast<int>(len)); }

void TlsChannel::note_error(const char* what) {
  if (error_.empty()) error_ = std::string(what) + ": " + openssl_error();
}

int TlsChannel::handshake() {
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) return 1;
  int err = SSL_get_error(ssl_, rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return 0;
  long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) {
    error_ = std::string("TLS handshake: certificate verification failed: ") + X509_verify_cert_error_string(verify);
  } else {
    note_error("TLS handshake");
  }
  return -1;
}

int TlsChannel::read(char* buf, size_t len) {
  int n = SSL_read(ssl_, buf, static_cast<int>(len));
  if (n > 0) return n;
  int err = SSL_get_error(ssl_, n);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return 0;
  if (err == SSL_ERROR_ZERO_RETURN) {
    error_ = "TLS connection closed by peer";
  } else {
    note_error("TLS read");
  }
  return -1;
}

bool TlsChannel::write(std::string_view plain) {
  if (plain.empty()) return true;
  int n = SSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
  if (n == static_cast<int>(plain.size())) return true;
  note_error("TLS write");
  return false;
}

void TlsChannel::take_cipher(std::string& out) {
  char* data = nullptr;
  long n = BIO_get_mem_data(out_, &data);
  if (n <= 0) return;
  out.append(data, static_cast<size_t>(n));
  (void)BIO_reset(out_);
}

}  // namespace pgw
