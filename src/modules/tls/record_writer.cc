#include "modules/tls/record_writer.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>

namespace gw::tls {

ssize_t write_records(SSL* ssl, const struct iovec* iov, int count, char* scratch, size_t& retry_bytes,
                      int& ssl_error) {
    size_t total = 0;
    int i = 0;
    size_t off = 0;  // into iov[i]
    while (i < count) {
        size_t left = iov[i].iov_len - off;
        if (left == 0) {
            ++i;
            off = 0;
            continue;
        }
        // One record per SSL_write_ex; on a retry, exactly the held record's bytes (offering
        // more would let OpenSSL take some of the next record's bytes and ask for those too).
        size_t record = retry_bytes != 0 ? retry_bytes : kRecordBytes;
        int next = i + 1;
        while (next < count && iov[next].iov_len == 0) ++next;
        const char* data = static_cast<const char*>(iov[i].iov_base) + off;
        size_t n = std::min(left, record);
        if (left < record && (next < count || retry_bytes != 0)) {
            n = 0;
            for (int j = i; j < count && n < record; ++j) {
                size_t from = j == i ? off : 0;
                size_t take = std::min(iov[j].iov_len - from, record - n);
                std::memcpy(scratch + n, static_cast<const char*>(iov[j].iov_base) + from, take);
                n += take;
            }
            data = scratch;
        }
        ERR_clear_error();
        size_t written = 0;
        if (SSL_write_ex(ssl, data, n, &written) != 1) {
            ssl_error = SSL_get_error(ssl, 0);
            if (ssl_error == SSL_ERROR_WANT_WRITE || ssl_error == SSL_ERROR_WANT_READ) retry_bytes = n;
            if (total > 0) {  // what went is reported; the condition comes again next time
                ERR_clear_error();
                return static_cast<ssize_t>(total);
            }
            return -1;
        }
        retry_bytes = 0;
        total += written;
        while (written > 0) {  // advance over `written` bytes of the pieces
            size_t in_piece = iov[i].iov_len - off;
            if (written < in_piece) {
                off += written;
                written = 0;
            } else {
                written -= in_piece;
                ++i;
                off = 0;
            }
        }
    }
    return static_cast<ssize_t>(total);
}

}  // namespace gw::tls
