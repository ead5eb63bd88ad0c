// The files the auth providers name, read at load (and on HUP): an API-key file, an htpasswd
// file, a secret. Each reader reports problems in the file itself at FILE:LINE:COL (or at the
// configuration key that names it when the file cannot be read), and never writes a secret or
// a key into a message.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/config/diagnostics.h"

namespace gw::auth {

// An API-key file: a YAML map of consumer name -> list of "sha256:<64 hex digits>", the SHA-256
// of each key the consumer may present. Fills `digests` (raw 32-byte digest -> consumer).
// False when the file cannot be read or has an error (reported).
bool read_keys_file(const std::string& path, const Mark& at, std::string_view key_path,
                    std::map<std::string, std::string, std::less<>>& digests, Diagnostics& diags);

// An htpasswd file: "user:hash" lines ('#' comments and blank lines skipped), hashes in crypt(3)
// formats that are still sound - bcrypt ($2a$, $2b$, $2y$), sha512-crypt ($6$), sha256-crypt
// ($5$), yescrypt ($y$). Older ones (DES, MD5 "$1$", Apache "$apr1$", "{SHA}", plain text)
// are refused with the line that has them.
bool read_htpasswd(const std::string& path, const Mark& at, std::string_view key_path,
                   std::map<std::string, std::string, std::less<>>& users, Diagnostics& diags);

// A secret: the file's bytes, one trailing newline dropped; at least `minimum` bytes.
bool read_secret_file(const std::string& path, const Mark& at, std::string_view key_path, size_t minimum,
                      std::string& secret, Diagnostics& diags);

}  // namespace gw::auth
