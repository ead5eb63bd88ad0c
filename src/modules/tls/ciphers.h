// The `ciphers:` (TLS 1.2, OpenSSL's list syntax) and `ciphersuites:` (TLS 1.3) of a listener,
// tried on a scratch SSL_CTX when the configuration is loaded: OpenSSL ignores the names it does
// not know as long as one name is good, so each name is also tried alone to find the typos.
#pragma once

#include <string>
#include <vector>

namespace gw::tls {

struct CipherCheck {
    std::string error;                 // empty: the list can be used
    std::vector<std::string> unknown;  // names that select nothing (a typo, or not in this OpenSSL)
};

// An error when the list selects no TLS 1.2 cipher, or one without authentication (aNULL) or
// without encryption (eNULL): those are never offered.
CipherCheck check_cipher_list(const std::string& list);
// An error when the list selects no TLS 1.3 cipher suite.
CipherCheck check_ciphersuites(const std::string& list);

}  // namespace gw::tls
