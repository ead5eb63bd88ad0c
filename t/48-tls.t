#!/usr/bin/perl
# TLS end to end (issue 14, phase 1): the real binary with TLS listeners, a real backend, and real
# clients (curl, openssl s_client), certificates made by the openssl command.
#   1. SNI: an exact name (RSA www.example), a wildcard one label deep (ECDSA *.api.example), and
#      the first certificate for a name two labels deep, an unknown name and no name;
#   2. one name served by an ECDSA and an RSA certificate: a client limited to RSA signatures
#      (or to an ECDHE-RSA cipher) gets the RSA one, a default client the ECDSA one;
#   3. proxied over TLS: X-Forwarded-Proto https (http on the plain listener, and a client's own
#      field does not survive); $scheme, $ssl_protocol, $ssl_server_name in a response header;
#      an access log line with $ssl_protocol $ssl_cipher $ssl_session_reused;
#   4. a 5 MB download and a 5 MB upload intact through TLS; 20 requests on one TLS connection;
#   5. TLS 1.1 refused; TLS 1.2 refused where protocols is [TLSv1.3]; info lines naming the client;
#   6. handshake_timeout 1s: a client that sends nothing is closed within 1-3 s, and it is logged;
#   7. HSTS on TLS responses, never on the plain listener;
#   8. require_client_cert: 403 without a client certificate, 200 with one the CA signed
#      ($ssl_client_s_dn and $ssl_client_fingerprint as openssl prints them; $consumer is the
#      subject); client_auth
#      mode require: a handshake without a certificate fails;
#   9. the plain listener's HTTP->HTTPS redirect route: 308 with the https Location;
#  10. resumption on a one-worker gateway (TLS 1.3 tickets and TLS 1.2): s_client -sess_out then
#      -sess_in says "Reused", and $ssl_session_reused is "r" (across workers is phase 2).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time);
use GatewayTest;
use TestCerts;
use Backend;

my $t = GatewayTest->new;
require_modules('tls');
plan skip_all => 'the openssl command is not installed' unless system('openssl version >/dev/null 2>&1') == 0;
plan skip_all => 'curl is not installed' unless system('curl --version >/dev/null 2>&1') == 0;

my $dir = $t->dir;
my $certs = TestCerts->new($dir);
sub openssl { $certs->openssl(shift) }    # in $dir; a failure ends the test
my $ec = $TestCerts::EC;
my $rsa = '-newkey rsa:2048 -nodes';
openssl("req -x509 $ec -keyout api.key -out api.pem -days 30 -subj /CN=api.example "
        . "-addext subjectAltName=DNS:api.example,DNS:*.api.example");
openssl("req -x509 $rsa -keyout www.key -out www.pem -days 30 -subj /CN=www.example "
        . "-addext subjectAltName=DNS:www.example");
# One name, two key types (the CNs tell them apart; the names are the subjectAltNames).
openssl("req -x509 $ec -keyout www2-ecdsa.key -out www2-ecdsa.pem -days 30 -subj /CN=www2-ecdsa "
        . "-addext subjectAltName=DNS:www2.example");
openssl("req -x509 $rsa -keyout www2-rsa.key -out www2-rsa.pem -days 30 -subj /CN=www2-rsa "
        . "-addext subjectAltName=DNS:www2.example");
# The clients' CA and a client it signed.
openssl("req -x509 $ec -keyout ca.key -out ca.pem -days 30 -subj /CN=Clients");
openssl("req $ec -keyout client.key -out client.csr -subj /CN=alice/O=Ops/OU=Team\\ 1");
openssl("x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -out client.pem");

my $backend = Backend->new(name => 'a')->start;
$t->set_port('be', $backend->port);
$t->write_conf(<<'CONF');
worker_processes: 2
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
access_log:
  path: logs/access.log
  format: 'AL $request_uri $scheme $ssl_protocol $ssl_cipher $ssl_session_reused $ssl_server_name'
  flush: 100ms
http: {client_max_body_size: 8m}
listeners:
  - address: 127.0.0.1:%%https%%
    tls:
      certificates:
        - {cert: api.pem, key: api.key}
        - {cert: www.pem, key: www.key}
        - {cert: www2-ecdsa.pem, key: www2-ecdsa.key}
        - {cert: www2-rsa.pem, key: www2-rsa.key}
      client_auth: {ca: ca.pem, mode: optional}
      handshake_timeout: 1s
      hsts: {max_age: 180d, include_subdomains: true}
  - address: 127.0.0.1:%%tls13%%
    tls:
      certificates: [{cert: api.pem, key: api.key}]
      protocols: [TLSv1.3]
  - address: 127.0.0.1:%%mtls%%
    tls:
      certificates: [{cert: api.pem, key: api.key}]
      client_auth: {ca: ca.pem, mode: require}
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
upstreams:
  app: {servers: [{address: 127.0.0.1:%%be%%}]}
routes:
  - name: to-https
    match: {listener: "127.0.0.1:%%http%%", path_prefix: /moved/}
    return: {status: 308, location: "https://$host$request_uri"}
  - name: internal
    match: {path_prefix: /internal}
    require_client_cert: true
    return: {status: 200, body: "dn=$ssl_client_s_dn fp=$ssl_client_fingerprint consumer=$consumer\n"}
  - name: app
    match: {path_prefix: /}
    upstream: app
    response_headers:
      set: {x-tls: "$scheme|$ssl_protocol|$ssl_server_name"}
CONF
$t->start;
my ($https, $tls13, $mtls, $http) = map { $t->port($_) } qw(https tls13 mtls http);

# curl against a TLS listener (the server's certificate is not verified: -k). Returns (status,
# head, body file, curl's exit code).
my $n = 0;
sub curl {
    my ($port, $name, $path, @opts) = @_;
    my $out = $t->path('body' . ++$n);
    my $hdr = $t->path('head' . $n);
    my $cmd = join ' ', 'curl -sk --max-time 10 -o', "'$out'", '-D', "'$hdr'",
        '--resolve', "$name:$port:127.0.0.1", @opts, "'https://$name:$port$path'";
    my $rc = system($cmd) >> 8;
    my $h = slurp($hdr) // '';
    my ($status) = ($h =~ m{^HTTP/\S+ (\d+)}mg)[-1];    # the final one (after a 100 Continue)
    return ($status // 0, $h, $out, $rc);
}

# openssl s_client against 127.0.0.1:$port with these options and $input on its stdin; its output.
sub s_client {
    my ($port, $opts, $input) = @_;
    my $in = $t->path('s_client.in');
    spew($in, $input // '');
    return scalar `timeout 10 openssl s_client -connect 127.0.0.1:$port $opts <'$in' 2>&1`;
}

# The subject of the certificate s_client gets, spaces removed ("CN=api.example").
sub subject_for {
    my ($port, $sni, $extra) = @_;
    my $o = s_client($port, (defined $sni ? "-servername $sni" : '-noservername') . ' ' . ($extra // ''));
    return $o =~ /^subject=(.*)$/m ? $1 =~ s/\s+//gr : "no certificate: $o";
}

# Error-log lines matching $re (a count, to see a new one appear).
sub log_count {
    my ($re) = @_;
    return scalar(() = $t->error_log =~ /$re/g);
}

# --- 1. SNI -----------------------------------------------------------------------------------
is(subject_for($https, 'www.example'), 'CN=www.example', 'SNI www.example: the www (RSA) certificate');
is(subject_for($https, 'a.api.example'), 'CN=api.example', 'a.api.example: the wildcard *.api.example');
is(subject_for($https, 'API.Example'), 'CN=api.example', 'api.example in other case: the api certificate');
is(subject_for($https, 'a.b.api.example'), 'CN=api.example', 'a.b.api.example: the default (first) one');
is(subject_for($https, 'www.example'), 'CN=www.example', '... (www again: the default is not sticky)');
is(subject_for($https, 'unknown.example'), 'CN=api.example', 'an unknown name: the default');
is(subject_for($https, undef), 'CN=api.example', 'no SNI: the default');

# --- 2. ECDSA and RSA for one name --------------------------------------------------------------
is(subject_for($https, 'www2.example'), 'CN=www2-ecdsa', 'www2.example, a default client: the ECDSA certificate');
is(subject_for($https, 'www2.example', "-tls1_2 -sigalgs 'RSA-PSS+SHA256:RSA+SHA256'"), 'CN=www2-rsa',
   '... TLS 1.2 limited to RSA signatures: the RSA one');
is(subject_for($https, 'www2.example', '-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256'), 'CN=www2-rsa',
   '... TLS 1.2 limited to ECDHE-RSA: the RSA one');
is(subject_for($https, 'www2.example', '-tls1_3 -sigalgs rsa_pss_rsae_sha256'), 'CN=www2-rsa',
   '... TLS 1.3 limited to RSA-PSS: the RSA one');
is(subject_for($https, 'www2.example', '-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256'), 'CN=www2-ecdsa',
   '... TLS 1.2 limited to ECDHE-ECDSA: the ECDSA one');

# --- 3. proxied over TLS; variables; the access log ----------------------------------------------
{
    my ($st, $h, $f) = curl($https, 'www.example', '/echo/xfp', "-H 'X-Forwarded-Proto: http'");
    is($st, 200, 'a proxied request over TLS');
    like($h, qr/^x-tls: https\|TLSv1\.3\|www\.example\r?$/mi, '$scheme, $ssl_protocol, $ssl_server_name in a response header');
    my $j = parse_json(slurp($f));
    is(echo_hdr($j, 'x-forwarded-proto'), 'https',
       'the backend sees X-Forwarded-Proto: https (once: the client\'s own field is not passed)');

    my $p = http_get($http, '/echo/plain');
    is($p && $p->{status}, 200, 'a proxied request on the plain listener');
    is(echo_hdr(parse_json($p->{body}), 'x-forwarded-proto'), 'http', '... X-Forwarded-Proto: http');
    is($p->{headers}{'x-tls'}, 'http||', '... $scheme http, no $ssl_protocol, no $ssl_server_name');

    ($st, $h) = curl($https, 'api.example', '/echo/tls12', '--tls-max 1.2', '--ciphers ECDHE-ECDSA-AES128-GCM-SHA256');
    is($st, 200, 'a TLS 1.2 request with a chosen cipher');
    like($h, qr/^x-tls: https\|TLSv1\.2\|api\.example\r?$/mi, '... $ssl_protocol TLSv1.2');
    ($st) = curl($https, 'api.example', '/echo/tls13', '--tlsv1.3', '--tls13-ciphers TLS_CHACHA20_POLY1305_SHA256');
    is($st, 200, 'a TLS 1.3 request with a chosen cipher suite');

    my $access = $t->path('logs/access.log');
    my %want = (
        '/echo/xfp'   => qr/^https TLSv1\.3 TLS_\w+ \. www\.example$/,
        '/echo/tls12' => qr/^https TLSv1\.2 ECDHE-ECDSA-AES128-GCM-SHA256 \. api\.example$/,
        '/echo/tls13' => qr/^https TLSv1\.3 TLS_CHACHA20_POLY1305_SHA256 \. api\.example$/,
        '/echo/plain' => qr/^http - - - -$/,
    );
    my %line;
    wait_until(sub {
        for (split /\n/, slurp($access) // '') { $line{$1} = $2 if /^AL (\S+) (.*)$/ }
        return !grep { !defined $line{$_} } keys %want;
    }, 5);
    for my $uri (sort keys %want) {
        like($line{$uri} // 'none', $want{$uri}, "access log of $uri: \$scheme \$ssl_protocol \$ssl_cipher \$ssl_session_reused \$ssl_server_name");
    }
}

# --- 4. bodies through TLS; keep-alive -------------------------------------------------------------
{
    my $size = 5 * 1024 * 1024;
    my ($st, undef, $f) = curl($https, 'www.example', "/download/$size");
    is($st, 200, 'a 5 MB download over TLS');
    my $got = slurp($f) // '';
    is(length($got), $size, '... whole');
    ok(md5_hex($got) eq pattern_md5($size), '... and intact (md5)');

    my $up = $t->path('upload.bin');
    spew($up, pattern($size));
    my $h;
    ($st, $h, $f) = curl($https, 'www.example', '/upload', "--data-binary '\@$up'",
                         "-H 'content-type: application/octet-stream'");
    is($st, 200, 'a 5 MB upload over TLS');
    like($h, qr{^HTTP/1\.1 100 }m, '... curl\'s Expect: 100-continue answered through TLS');
    my $j = parse_json(slurp($f));
    is($j && $j->{body_length}, $size, '... all of it reached the backend');
    is($j && $j->{body_md5}, pattern_md5($size), '... intact (md5)');
}
{
    my $urls = join ' ', map { "-o /dev/null 'https://www.example:$https/echo/ka?n=$_'" } 1 .. 20;
    my $o = `curl -sk --max-time 20 --resolve www.example:$https:127.0.0.1 -w '%{http_code} %{num_connects}\\n' $urls`;
    my @lines = split /\n/, $o;
    is(scalar(@lines), 20, '20 requests with one curl');
    is(scalar(grep { /^200 / } @lines), 20, '... all 200');
    is(join(',', map { (split ' ')[1] // '?' } @lines), join(',', 1, (0) x 19),
       '... on one kept-alive TLS connection (one connect, then none)');
}

# --- 5. protocols -----------------------------------------------------------------------------------
{
    # SECLEVEL=0: this OpenSSL would not offer TLS 1.1 otherwise, and the server must see it.
    my $failed = qr/client 127\.0\.0\.1 on 127\.0\.0\.1:$https: TLS handshake failed/;
    my $before = log_count($failed);
    my $o = s_client($https, "-servername api.example -tls1_1 -cipher 'DEFAULT:\@SECLEVEL=0'");
    like($o, qr/alert protocol version/, 'TLS 1.1: the server answers with a protocol_version alert');
    unlike($o, qr/^subject=/m, '... no certificate sent');
    ok(wait_until(sub { log_count($failed) > $before }, 5),
       '... the server saw it and logged an info line naming the client and the listener')
        or diag($o);

    $failed = qr/client 127\.0\.0\.1 on 127\.0\.0\.1:$tls13: TLS handshake failed/;
    $before = log_count($failed);
    $o = s_client($tls13, '-servername api.example -tls1_2');
    like($o, qr/Cipher is \(NONE\)/, 'TLS 1.2 where protocols is [TLSv1.3]: refused');
    ok(wait_until(sub { log_count($failed) > $before }, 5), '... logged with the client');
    like($t->error_log, qr/\[info\].*TLS handshake failed: .*(protocol|version)/i, '... with OpenSSL\'s reason');
    $o = s_client($tls13, '-servername api.example -tls1_3');
    like($o, qr/New, TLSv1\.3, Cipher is TLS_/, '... TLS 1.3 accepted there');
    my ($st) = curl($tls13, 'api.example', '/echo/v13');
    is($st, 200, '... and serves requests');
}

# --- 6. handshake timeout ----------------------------------------------------------------------------
{
    my $start = time;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $https, Timeout => 5) or die "connect: $!";
    my ($got, $buf) = (undef, '');
    my $sel = IO::Select->new($s);
    while (time - $start < 6) {
        next unless $sel->can_read(0.1);
        $got = sysread($s, $buf, 64);
        last;
    }
    my $took = time - $start;
    ok(defined $got && $got == 0, 'a client that sends nothing reads EOF (the server closed)')
        or diag("read: " . ($got // 'nothing') . " $!");
    cmp_ok($took, '>=', 0.9, '... not before the 1 s handshake_timeout');
    cmp_ok($took, '<=', 3, '... but within 3 s');
    ok(wait_until(sub { $t->error_log =~ /client 127\.0\.0\.1 on 127\.0\.0\.1:$https did not finish its TLS handshake in time/ }, 5),
       '... logged: the handshake was not finished in time');
}

# --- 7. HSTS ------------------------------------------------------------------------------------------
{
    my ($st, $h) = curl($https, 'www.example', '/echo/hsts');
    my @hsts = $h =~ /^strict-transport-security:\s*(.*?)\r?$/mig;
    is_deeply(\@hsts, ['max-age=15552000; includeSubDomains'], 'HSTS on a proxied TLS response, once');
    ($st, $h) = curl($https, 'www.example', '/internal/x');
    is($st, 403, 'a 403 made by the gateway over TLS');
    like($h, qr/^strict-transport-security: max-age=15552000; includeSubDomains\r?$/mi, '... carries HSTS too');
    my $p = http_get($http, '/echo/hsts');
    is($p && $p->{status}, 200, 'the plain listener');
    ok(!exists $p->{headers}{'strict-transport-security'}, '... never sends HSTS');
    $p = http_get($http, '/moved/hsts');
    ok(!exists $p->{headers}{'strict-transport-security'}, '... not on its redirect either');
    ($st, $h) = curl($tls13, 'api.example', '/echo/hsts');
    unlike($h, qr/^strict-transport-security:/mi, 'no HSTS on a TLS listener without hsts');
}

# --- 8. client certificates ----------------------------------------------------------------------------
{
    my ($st, undef, $f) = curl($https, 'api.example', '/internal/who');
    is($st, 403, 'require_client_cert, no client certificate: 403');
    ($st, undef, $f) = curl($https, 'api.example', '/internal/who', "--cert '$dir/client.pem'", "--key '$dir/client.key'");
    is($st, 200, '... 200 with a certificate the CA signed');
    my $subject = `openssl x509 -in '$dir/client.pem' -noout -subject -nameopt RFC2253`;
    $subject =~ s/^subject=\s*//;
    chomp $subject;
    my $fp = `openssl x509 -in '$dir/client.pem' -noout -fingerprint -sha1`;
    $fp =~ s/^.*=//;
    $fp =~ s/://g;
    chomp $fp;
    like($subject, qr/^OU=Team 1,O=Ops,CN=alice$/, '(openssl prints the subject in RFC 2253 order)');
    is(slurp($f), "dn=$subject fp=\L$fp\E consumer=$subject\n",
       '$ssl_client_s_dn and $ssl_client_fingerprint as openssl prints them; the subject is the consumer');
    ($st, undef, $f) = curl($https, 'api.example', '/echo/nocert-needed');
    is($st, 200, 'a route without require_client_cert: 200 without a certificate (mode optional)');

    my $failed = qr/client 127\.0\.0\.1 on 127\.0\.0\.1:$mtls: TLS handshake failed/;
    my $before = log_count($failed);
    my ($rc, $h);
    ($st, $h, $f, $rc) = curl($mtls, 'api.example', '/echo/mtls');
    is($st, 0, 'client_auth mode require, no client certificate: no response');
    isnt($rc, 0, '... curl fails');
    ok(wait_until(sub { log_count($failed) > $before }, 5), '... the handshake failed (logged)');
    ($st) = curl($mtls, 'api.example', '/echo/mtls', "--cert '$dir/client.pem'", "--key '$dir/client.key'");
    is($st, 200, '... with the client certificate: 200');
    my $o = s_client($mtls, '-servername api.example -tls1_2 -ign_eof',
                     "GET /echo/mtls HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\r\n");
    like($o, qr/alert handshake failure/, '... a TLS 1.2 s_client without a certificate gets a handshake_failure alert');
    unlike($o, qr{^HTTP/1\.1 }m, '... and no response');
}

# --- 9. the redirect on the plain listener ------------------------------------------------------------
{
    my $r = http_get($http, '/moved/a/b?x=1&y=2', { Host => "www.example:$http" });
    is($r && $r->{status}, 308, 'plain HTTP on the redirect route: 308');
    is($r && $r->{headers}{location}, 'https://www.example/moved/a/b?x=1&y=2', '... Location: https, same host, path and query');
    my ($st) = curl($https, 'www.example', '/moved/a');
    is($st, 200, 'the same path over TLS is not redirected (the route takes the plain listener only)');
}

$t->stop;

# --- 10. resumption within one worker -------------------------------------------------------------------
{
    my $g = GatewayTest->new;
    for my $f (qw(api.pem api.key)) { spew($g->path($f), slurp($t->path($f))) }
    $g->write_conf(<<'CONF');
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
listeners:
  - address: 127.0.0.1:%%https%%
    tls:
      certificates: [{cert: api.pem, key: api.key}]
  - {address: 127.0.0.1:%%admin%%, admin: true}
routes:
  - name: reused
    match: {path_prefix: /}
    return: {status: 200, body: "reused=$ssl_session_reused proto=$ssl_protocol sni=$ssl_server_name\n"}
CONF
    $g->start;
    my $port = $g->port('https');
    my $req = "GET /r HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\r\n";
    for my $v (qw(1_3 1_2)) {
        (my $dotted = $v) =~ tr/_/./;
        my $sess = $g->path("sess$v.pem");
        my $base = "-servername api.example -tls$v -ign_eof";
        my $o = s_client($port, "$base -sess_out '$sess'", $req);
        like($o, qr/^New, TLSv\Q$dotted\E/m, "TLS $dotted: a first connection is a new session");
        like($o, qr/reused=\. proto=TLSv\Q$dotted\E sni=api\.example/, '... $ssl_session_reused "."');
        ok(-s $sess, '... s_client kept the session');
        $o = s_client($port, "$base -sess_in '$sess'", $req);
        like($o, qr/^Reused, TLSv\Q$dotted\E/m, '... the second connection resumes it');
        like($o, qr/reused=r proto=TLSv\Q$dotted\E sni=api\.example/, '... $ssl_session_reused "r", the name kept');
    }
    $g->stop;

    # ktls: true - OpenSSL gives the record layer to the kernel where it can; the worker says
    # once whether it did (this machine's kernel may have no tls module: then "off", and the
    # connection works as before).
    $g->write_conf(slurp($g->conf) =~ s/certificates: \[\{cert: api.pem, key: api.key\}\]/certificates: [{cert: api.pem, key: api.key}]\n      ktls: true/r);
    $g->start;
    $port = $g->port('https');
    my $o = s_client($port, '-servername api.example -ign_eof', $req);
    like($o, qr/reused=\. proto=TLSv1\.3/, 'ktls: true - a connection is served');
    ok(wait_until(sub { $g->error_log =~ /\[notice\].*ktls: this worker's first TLS connection on the listener has kernel TLS for sending (on|off), for receiving (on|off)/ }, 5),
       '... and the worker says once whether the kernel took the record layer over');
    $o = s_client($port, '-servername api.example -ign_eof', $req);
    like($o, qr/reused=/, '... a second connection too');
    is(() = $g->error_log =~ /ktls: this worker's first/g, 1, '... said once');
    $g->stop;
}

done_testing;
