#!/usr/bin/perl
# TLS served by the real binary (2 workers) to real clients (curl, openssl s_client), with a real
# backend behind it:
#   1. SNI: an exact name, a wildcard one label deep, and the default certificate for an unknown
#      name or none;
#   2. proxied over TLS: the backend sees X-Forwarded-Proto https (http from the plain listener);
#      $scheme, $ssl_protocol and $ssl_server_name in a response header; a 3 MB download and a
#      600 KB upload intact through TLS; several requests on one kept-alive TLS connection;
#   3. TLS 1.1 refused, and TLS 1.2 where protocols is [TLSv1.3], with an info line naming the
#      client;
#   4. a client that connects and never starts the handshake is closed after handshake_timeout;
#   5. HSTS on the TLS listener only;
#   6. require_client_cert: 403 without a client certificate, 200 with one the CA signed (its
#      subject and SHA-1 fingerprint as $ssl_client_s_dn / $ssl_client_fingerprint);
#   7. the plain listener's redirect route (match: {listener: ...}) answers 308 to https.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use Digest::MD5 qw(md5_hex);
use GatewayTest;
use Backend;

my $t = GatewayTest->new;
require_modules('tls');
plan skip_all => 'the openssl command is not installed' unless system('openssl version >/dev/null 2>&1') == 0;
plan skip_all => 'curl is not installed' unless system('curl --version >/dev/null 2>&1') == 0;

my $dir = $t->dir;
sub openssl {
    my $cmd = shift;
    system("cd '$dir' && openssl $cmd >/dev/null 2>&1") == 0 or BAIL_OUT("openssl $cmd failed");
}
openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout api.key -out api.pem -days 30 "
        . "-subj /CN=api.example -addext subjectAltName=DNS:api.example,DNS:*.api.example");
openssl("req -x509 -newkey rsa:2048 -nodes -keyout www.key -out www.pem -days 30 -subj /CN=www.example "
        . "-addext subjectAltName=DNS:www.example");
openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 30 -subj /CN=Clients");
openssl("req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key -out client.csr -subj /CN=alice/O=Ops");
openssl("x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -out client.pem");

my $backend = Backend->new(name => 'a')->start;
$t->set_port('be', $backend->port);
$t->write_conf(<<'CONF');
worker_processes: 2
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
http: {client_max_body_size: 4m}
listeners:
  - address: 127.0.0.1:%%https%%
    tls:
      certificates:
        - {cert: api.pem, key: api.key}
        - {cert: www.pem, key: www.key}
      client_auth: {ca: ca.pem, mode: optional}
      handshake_timeout: 1s
      hsts: {max_age: 180d, include_subdomains: true}
  - address: 127.0.0.1:%%tls13%%
    tls:
      certificates: [{cert: api.pem, key: api.key}]
      protocols: [TLSv1.3]
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
    return: {status: 200, body: "dn=$ssl_client_s_dn fp=$ssl_client_fingerprint\n"}
  - name: app
    match: {path_prefix: /}
    upstream: app
    response_headers:
      set: {x-tls: "$scheme $ssl_protocol sni=$ssl_server_name"}
CONF
$t->start;
my ($https, $tls13, $http) = map { $t->port($_) } qw(https tls13 http);

# curl against the TLS listener; returns (status, headers text, body file path).
my $n = 0;
sub curl {
    my ($name, $path, @opts) = @_;
    my $out = $t->path('body' . ++$n);
    my $hdr = $t->path('head' . $n);
    my $cmd = join ' ', 'curl -sk --max-time 10 -o', "'$out'", '-D', "'$hdr'",
        '--resolve', "$name:$https:127.0.0.1", @opts, "'https://$name:$https$path'";
    system($cmd);
    my $h = GatewayTest::slurp($hdr) // '';
    my ($status) = $h =~ m{^HTTP/\S+ (\d+)}m;
    return ($status // 0, $h, $out);
}

# The certificate subject s_client sees for `sni` (undef: none sent).
sub subject_for {
    my ($port, $sni, @extra) = @_;
    my $name = defined $sni ? "-servername $sni" : '-noservername';
    my $o = `echo | timeout 10 openssl s_client -connect 127.0.0.1:$port $name @extra 2>&1`;
    return $o =~ /^subject=(.*)$/m ? $1 =~ s/\s+//gr : "none: $o";
}

# --- 1. SNI ------------------------------------------------------------------------------------
like(subject_for($https, 'www.example'), qr/CN=www\.example/, 'SNI www.example: the www certificate');
like(subject_for($https, 'a.api.example'), qr/CN=api\.example/, 'a.api.example: the wildcard one');
like(subject_for($https, 'a.b.api.example'), qr/CN=api\.example/, 'a.b.api.example: the default (first) one');
like(subject_for($https, 'unknown.example'), qr/CN=api\.example/, 'an unknown name: the default');
like(subject_for($https, undef), qr/CN=api\.example/, 'no SNI: the default');

# --- 2. proxied over TLS ----------------------------------------------------------------------
{
    my ($st, $h, $f) = curl('www.example', '/echo');
    is($st, 200, 'a proxied request over TLS');
    like($h, qr/^x-tls: https TLSv1\.3 sni=www\.example\r?$/mi, '$scheme, $ssl_protocol, $ssl_server_name');
    my $body = GatewayTest::slurp($f);
    like($body, qr/"x-forwarded-proto","https"/i, 'the backend sees X-Forwarded-Proto: https');
    my $plain = http_get($http, '/echo');
    like($plain->{body}, qr/"x-forwarded-proto","http"/i, '... and http from the plain listener');
    unlike($plain->{headers}{'x-tls'} // '', qr/https/, '... where $scheme is http');
    ok(!defined $plain->{headers}{'strict-transport-security'}, 'no HSTS on the plain listener');
    like($h, qr/^strict-transport-security: max-age=15552000; includeSubDomains\r?$/mi, 'HSTS on the TLS listener');
}
{
    my $size = 3 * 1024 * 1024;
    my ($st, undef, $f) = curl('www.example', "/bytes/$size");
    is($st, 200, 'a 3 MB download over TLS');
    my $got = GatewayTest::slurp($f) // '';
    is(length($got), $size, '... whole');
    is(md5_hex($got), Backend::pattern_md5($size), '... and intact');

    my $up = $t->path('upload.bin');
    GatewayTest::spew($up, Backend::pattern(600 * 1024));
    ($st, undef, $f) = curl('www.example', '/upload', "--data-binary '\@$up'", '-H', "'content-type: application/octet-stream'");
    is($st, 200, 'a 600 KB upload over TLS');
    my $echo = GatewayTest::slurp($f) // '';
    like($echo, qr/"body_length":614400\b/, '... all of it reached the backend');
    like($echo, qr/"body_md5":"\Q${\ Backend::pattern_md5(600 * 1024)}\E"/, '... intact');
}
{
    my $urls = join ' ', map { "-o /dev/null 'https://www.example:$https/echo?n=$_'" } 1 .. 5;
    my $o = `curl -sk --max-time 10 --resolve www.example:$https:127.0.0.1 -w '%{http_code} %{num_connects}\\n' $urls`;
    my @lines = split /\n/, $o;
    is(scalar(@lines), 5, 'five requests');
    is(scalar(grep { /^200 / } @lines), 5, '... all 200');
    is(scalar(grep { / 1$/ } @lines), 1, '... over one kept-alive TLS connection');
}

# --- 3. protocols ------------------------------------------------------------------------------
{
    my $o = `echo | timeout 10 openssl s_client -connect 127.0.0.1:$https -tls1_1 2>&1`;
    like($o, qr/Cipher is \(NONE\)/, 'TLS 1.1 is refused');
    $o = `echo | timeout 10 openssl s_client -connect 127.0.0.1:$tls13 -tls1_2 2>&1`;
    like($o, qr/Cipher is \(NONE\)/, 'TLS 1.2 is refused where protocols is [TLSv1.3]');
    $o = `echo | timeout 10 openssl s_client -connect 127.0.0.1:$tls13 -tls1_3 2>&1`;
    like($o, qr/New, TLSv1\.3, Cipher is TLS_/, '... and TLS 1.3 accepted there');
    ok(wait_until(sub { $t->error_log =~ /client 127\.0\.0\.1 on 127\.0\.0\.1:\d+: TLS handshake failed/ }, 5),
       'a failed handshake is logged with the client');
}

# --- 4. handshake timeout ----------------------------------------------------------------------
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $https, Timeout => 5) or die "connect: $!";
    my $start = time;
    $s->blocking(1);
    my $buf;
    local $SIG{ALRM} = sub { die "timeout\n" };
    alarm 8;
    my $r = eval { sysread($s, $buf, 16) };
    alarm 0;
    my $took = time - $start;
    ok(defined $r && $r == 0, 'a client that never starts its handshake is closed') or diag($@ // '');
    cmp_ok($took, '<=', 4, '... after the 1 s handshake_timeout');
    ok(wait_until(sub { $t->error_log =~ /did not finish its TLS handshake in time/ }, 5), '... and it is logged');
}

# --- 6. client certificates --------------------------------------------------------------------
{
    my ($st) = curl('api.example', '/internal');
    is($st, 403, 'require_client_cert without a client certificate: 403');
    my $f;
    ($st, undef, $f) = curl('api.example', '/internal', "--cert '$dir/client.pem'", "--key '$dir/client.key'");
    is($st, 200, '... 200 with a certificate the CA signed');
    my $subject = `openssl x509 -in '$dir/client.pem' -noout -subject -nameopt RFC2253`;
    $subject =~ s/^subject=\s*//; chomp $subject;
    my $fp = `openssl x509 -in '$dir/client.pem' -noout -fingerprint -sha1`;
    $fp =~ s/^.*=//; $fp =~ s/://g; chomp $fp;
    is(GatewayTest::slurp($f), "dn=$subject fp=\L$fp\E\n", '$ssl_client_s_dn and $ssl_client_fingerprint');
}

# --- 7. the redirect on the plain listener ----------------------------------------------------
{
    my $r = http_get($http, '/moved/x?y=1', {host => 'www.example'});
    is($r->{status}, 308, 'plain HTTP on the listener of the redirect route: 308');
    is($r->{headers}{location}, 'https://www.example/moved/x?y=1', '... to https, same path and query');
    my ($st) = curl('www.example', '/moved/x');
    isnt($st, 308, 'the same path over TLS is not redirected (the route takes the plain listener only)');
}

$t->stop;
done_testing;
