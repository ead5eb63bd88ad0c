// Writing a gather list through an SSL, one TLS record per SSL_write_ex: what both the listener
// transport (transport.h) and the upstream one (upstream_transport.h) do in writev().
//
// Small pieces (a head and a short body) are gathered into one record through `scratch`
// (kRecordBytes), so they leave in one record and one write(2). After SSL_ERROR_WANT_WRITE (or
// _READ), OpenSSL holds the record it was given and the retry must offer exactly its bytes again
// (the caller's data starts with them: it was told nothing of them was written): `retry_bytes`
// remembers that record's size between calls.
#pragma once

#include <openssl/types.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>

namespace gw::tls {

inline constexpr size_t kRecordBytes = 16384;

// Bytes written (> 0, possibly fewer than offered), or -1 with `ssl_error` set to SSL_get_error's
// code (SSL_ERROR_WANT_WRITE / _READ: wait and retry with the same leading bytes; anything else:
// the connection failed). An error after some bytes went reports those bytes; it comes again on
// the next call.
ssize_t write_records(SSL* ssl, const struct iovec* iov, int count, char* scratch, size_t& retry_bytes,
                      int& ssl_error);

}  // namespace gw::tls
