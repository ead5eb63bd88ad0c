#!/usr/bin/perl
# TLS configuration checked by the real binary (`gatewayd -t` and `-T`), with certificates and
# keys made by the openssl command:
#   1. a good ECDSA pair, an RSA pair with an encrypted key and its password_file, a client CA:
#      -t succeeds; a certificate expiring within 14 days is a [warn] at FILE:LINE:COL;
#   2. -T shows the tls map with paths (never a key or a password) and the dump loads back;
#   3. -t fails, each at the key that names the file: a key of another certificate, a wrong
#      password (named "bad password", the password never printed), an expired certificate, a
#      missing file, TLSv1.1, a cipher list that selects nothing, a require_client_cert route
#      with no listener asking for client certificates.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use GatewayTest;

my $t = GatewayTest->new;
require_modules('tls');
plan skip_all => 'the openssl command is not installed' unless system('openssl version >/dev/null 2>&1') == 0;

my $dir = $t->dir;
sub openssl {
    my $cmd = shift;
    system("cd '$dir' && openssl $cmd >/dev/null 2>&1") == 0 or BAIL_OUT("openssl $cmd failed");
}

# api: ECDSA, 90 days; soon: ECDSA, 5 days; www: RSA with an encrypted key; other: a key of no
# certificate here; old: expired yesterday; ca: the clients' CA.
openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout api.key -out api.pem -days 90 "
        . "-subj /CN=api.example -addext subjectAltName=DNS:api.example,DNS:*.api.example");
openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout soon.key -out soon.pem -days 5 "
        . "-subj /CN=soon.example");
openssl("req -x509 -newkey rsa:2048 -passout pass:Secret-Pw1 -keyout www.key -out www.pem -days 90 "
        . "-subj /CN=www.example");
openssl("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key");
openssl("req -new -key other.key -subj /CN=old.example -out old.csr");
openssl("x509 -req -in old.csr -signkey other.key -days -1 -out old.pem");
openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 90 "
        . "-subj /CN=Clients");
GatewayTest::spew($t->path('www.pass'), "Secret-Pw1\n");
GatewayTest::spew($t->path('wrong.pass'), "Secret-Pw2\n");

# --- 1. a good configuration ---------------------------------------------------------------------

my $conf = $t->write_conf(<<'CONF');
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
listeners:
  - address: 127.0.0.1:%%https%%
    tls:
      certificates:
        - {cert: api.pem, key: api.key}
        - {cert: www.pem, key: www.key, password_file: www.pass}
        - {cert: soon.pem, key: soon.key}
      client_auth: {ca: ca.pem, mode: optional}
      hsts: {max_age: 180d}
  - address: 127.0.0.1:%%http%%
routes:
  - name: internal
    match: {path_prefix: /internal/}
    require_client_cert: true
    return: {status: 200, body: "internal"}
CONF
my $r = $t->run('-t', '-p', $dir, '-c', $conf);
is($r->{exit}, 0, '-t: a good TLS configuration passes') or diag($r->{out});
like($r->{out}, qr/^gatewayd: \[warn\] \Q$conf\E:9:18: warning: listeners\[0\]\.tls\.certificates\[2\]\.cert: "\Q$dir\E\/soon\.pem" expires on \S+ \S+ UTC, in [45] days$/m,
     '-t: a certificate expiring within 14 days is a warning at its cert: key');
unlike($r->{out}, qr/api\.pem|www\.pem/, '-t: nothing said of the other certificates');

# --- 2. -T ------------------------------------------------------------------------------------------

$r = $t->run('-T', '-p', $dir, '-c', $conf);
is($r->{exit}, 0, '-T succeeds') or diag($r->{out});
like($r->{stdout}, qr/^    tls:\n      certificates:\n        - cert: "\Q$dir\E\/api\.pem"\n          key: "\Q$dir\E\/api\.key"\n/m,
     '-T: the certificates, as absolute paths');
like($r->{stdout}, qr/^          password_file: "\Q$dir\E\/www\.pass"\n/m, '-T: the password file\'s path');
like($r->{stdout}, qr/^      client_auth:\n        mode: "optional"\n        ca: "\Q$dir\E\/ca\.pem"\n/m, '-T: client_auth');
like($r->{stdout}, qr/^      hsts:\n        max_age: 180d\n        include_subdomains: false\n        preload: false\n/m, '-T: hsts');
like($r->{stdout}, qr/^    require_client_cert: true\n/m, '-T: require_client_cert');
unlike($r->{stdout}, qr/Secret-Pw|PRIVATE KEY/, '-T: no password, no key');
my $dumped = $t->write_conf($r->{stdout}, 'dumped.conf');
my $back = $t->run('-t', '-p', $dir, '-c', $dumped);
is($back->{exit}, 0, 'the dump loads back') or diag($back->{out});

# --- 3. what -t refuses ------------------------------------------------------------------------

my $bad = $t->write_conf(<<'CONF', 'bad.conf');
listeners:
  - address: 127.0.0.1:%%bad1%%
    tls:
      certificates:
        - {cert: api.pem, key: other.key}
        - {cert: www.pem, key: www.key, password_file: wrong.pass}
        - {cert: old.pem, key: other.key}
        - {cert: missing.pem, key: api.key}
      protocols: [TLSv1.1, TLSv1.2]
      ciphers: "NO-SUCH-CIPHER"
routes:
  - name: internal
    match: {path_prefix: /internal/}
    require_client_cert: true
    return: {status: 200}
CONF
my $e = $t->run('-t', '-p', $dir, '-c', $bad);
is($e->{exit}, 1, '-t: a bad TLS configuration is refused');
like($e->{out}, qr/^gatewayd: \[emerg\] \Q$bad\E:5:32: listeners\[0\]\.tls\.certificates\[0\]\.key: "\Q$dir\E\/other\.key" does not match the certificate "\Q$dir\E\/api\.pem": .+$/m,
     '-t: a key of another certificate, with OpenSSL\'s reason');
like($e->{out}, qr/^gatewayd: \[emerg\] \Q$bad\E:6:32: listeners\[0\]\.tls\.certificates\[1\]\.key: cannot decrypt "\Q$dir\E\/www\.key": bad password \(password_file "\Q$dir\E\/wrong\.pass"\)$/m,
     '-t: a wrong password');
unlike($e->{out}, qr/Secret-Pw/, '-t: the password is never printed');
like($e->{out}, qr/^gatewayd: \[emerg\] \Q$bad\E:7:18: listeners\[0\]\.tls\.certificates\[2\]\.cert: "\Q$dir\E\/old\.pem" expired on \S+ \S+ UTC$/m,
     '-t: an expired certificate');
like($e->{out}, qr/^gatewayd: \[emerg\] \Q$bad\E:8:18: listeners\[0\]\.tls\.certificates\[3\]\.cert: cannot read "\Q$dir\E\/missing\.pem": No such file or directory$/m,
     '-t: a missing certificate file');
like($e->{out}, qr/^gatewayd: \[emerg\] \Q$bad\E:9:19: listeners\[0\]\.tls\.protocols: TLSv1\.1 is unsafe and is never offered/m,
     '-t: TLSv1.1');
like($e->{out}, qr/^gatewayd: \[emerg\] \Q$bad\E:10:16: listeners\[0\]\.tls\.ciphers: "NO-SUCH-CIPHER" selects no TLS 1\.2 cipher/m,
     '-t: a cipher list that selects nothing');
like($e->{out}, qr/^gatewayd: \[emerg\] \Q$bad\E:14:26: routes\[0\]\.require_client_cert: no listener asks for client certificates/m,
     '-t: require_client_cert without client_auth');
like($e->{out}, qr/test failed$/m, '-t: the summary');

# --- 4. ktls: true - the kernel is asked whether it can take TLS over ------------------------------
# (TCP_ULP "tls" on a connected loopback socket, as gatewayd asks; 31 is TCP_ULP on Linux.)
{
    use IO::Socket::INET;
    use Socket qw(IPPROTO_TCP);
    my $l = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0) or die "listen: $!";
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $l->sockport) or die "connect: $!";
    my $a = $l->accept or die "accept: $!";
    my $kernel_tls = setsockopt($a, IPPROTO_TCP, 31, 'tls') ? 1 : 0;
    my $ktls = $t->path('ktls.conf');
    GatewayTest::spew($ktls, <<'CONF');
listeners:
  - address: 127.0.0.1:1
    tls: {certificates: [{cert: api.pem, key: api.key}], ktls: true}
routes:
  - {name: r, match: {path_prefix: /}, return: {body: x}}
CONF
    my $k = $t->run('-t', '-p', $dir, '-c', $ktls);
    is($k->{exit}, 0, 'ktls: true is a valid configuration whatever the kernel') or diag($k->{out});
    if ($kernel_tls) {
        unlike($k->{out}, qr/no TLS offload/, 'this kernel has TLS offload: no warning');
    } else {
        like($k->{out}, qr/\[warn\] \S*ktls\.conf:3:58: warning: listeners\[0\]\.tls\.ktls: this kernel has no TLS offload \(TCP_ULP "tls": No such file or directory\): connections keep OpenSSL's own record layer/,
             'this kernel has no TLS offload (no tls module): a warning at FILE:LINE:COL');
    }
}

done_testing;
