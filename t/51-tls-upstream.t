#!/usr/bin/perl
# TLS to upstreams (issue 14, phase 2): the real binary proxying to a real TLS backend - nginx
# (Debian's, with ssl) in front of a Backend.pm echo server - with certificates made by the
# openssl command under a private CA.
#   1. proxied GET through TLS, the name checked against sni: (sent as SNI, seen by nginx) or,
#      without sni:, the address's IP against the certificate's IP subjectAltName (no SNI sent);
#   2. a 1 MB body each way intact; a WebSocket tunnel through TLS (300 KB each way);
#   3. keep-alive: sequential requests share one upstream TLS connection (nginx's $connection);
#      an idle TLS connection the backend closes is noticed (the idle gauge falls to 0) and the
#      next request gets a new one;
#   4. verification failures are a 502 with OpenSSL's reason in the error log: an unknown CA, a
#      name not in the certificate, an expired certificate; counted as kind="tls";
#      verify: false passes all three (and is warned about at load);
#   5. a failed handshake is retried on another server like a connect failure;
#   6. a server that accepts and never answers the handshake: 504 within the connect timeout;
#   7. a client certificate required by the backend (ssl_verify_client on): accepted with
#      cert/key (nginx sees its subject), refused (400 from nginx) without;
#   8. session reuse: a backend closing every connection (keepalive_timeout 0) sees the second
#      connection resume the first's session ($ssl_session_reused), TLS 1.3 and TLS 1.2; not
#      with session_reuse: false;
#      After a reload, TLS to the upstream works on.
#   9. -t: a bad ca/cert/key path with FILE:LINE:COL; cert without key; an IP as sni; a unix
#      socket server without sni; -T shows the tls map and the dump loads back.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use POSIX qw(WNOHANG _exit setpgid);
use Time::HiRes qw(time sleep);
use GatewayTest;
use TestCerts;
use Backend;

my $t = GatewayTest->new;
require_modules('tls');
plan skip_all => 'the openssl command is not installed' unless system('openssl version >/dev/null 2>&1') == 0;
my $NGINX = (grep { -x } '/usr/sbin/nginx', '/usr/bin/nginx')[0];
plan skip_all => 'nginx is not installed' unless $NGINX;
plan skip_all => 'nginx has no ssl module' unless (`$NGINX -V 2>&1` // '') =~ /--with-http_ssl_module/;

my $dir = $t->dir;
my $certs = TestCerts->new($dir);
# The private CA, a second CA nobody trusts here, the backend's certificate (a DNS and an IP
# name), an expired one for the same names, and a client certificate.
$certs->ca('ca', cn => 'Upstream CA');
$certs->ca('other-ca', cn => 'Other CA');
my $san = 'DNS:backend.test,IP:127.0.0.1';
$certs->cert('srv', ca => 'ca', cn => 'backend.test', san => $san);
$certs->cert('old', ca => 'ca', cn => 'backend.test', san => $san, days => -1);
$certs->cert('client', ca => 'ca', subj => '/CN=gateway/O=Ops');

# --- the backends: Backend.pm behind nginx terminating TLS ---------------------------------------

my $echo = Backend->new(name => 'echo')->start;
my %np = map { $_ => free_port() } qw(main close expired mtls tls12 short);
my $nd = "$dir/nginx";
mkdir $_ for $nd, "$nd/logs", "$nd/tmp";
my $user = $> == 0 ? "user root;\n" : '';
my $proxy = <<"P";
        location /ws {
            proxy_pass http://127.0.0.1:@{[ $echo->port ]};
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection upgrade;
            proxy_read_timeout 10s;
        }
        location / {
            proxy_pass http://127.0.0.1:@{[ $echo->port ]};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Sni \$ssl_server_name;
            proxy_set_header X-Conn \$connection;
            proxy_set_header X-Conn-Req \$connection_requests;
            proxy_set_header X-Reused \$ssl_session_reused;
            proxy_set_header X-Proto \$ssl_protocol;
            proxy_set_header X-Client-Dn \$ssl_client_s_dn;
        }
P
sub server_block {
    my ($port, $cert, $extra) = @_;
    return <<"S";
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $dir/$cert.pem;
        ssl_certificate_key $dir/$cert.key;
        $extra
$proxy    }
S
}
GatewayTest::spew("$nd/nginx.conf", <<"NGINX");
${user}worker_processes 1;
pid $nd/logs/nginx.pid;
error_log $nd/logs/error.log info;
events { worker_connections 256; }
http {
    access_log $nd/logs/access.log;
    client_body_temp_path $nd/tmp/body;
    proxy_temp_path $nd/tmp/proxy;
    fastcgi_temp_path $nd/tmp/fastcgi;
    uwsgi_temp_path $nd/tmp/uwsgi;
    scgi_temp_path $nd/tmp/scgi;
    client_max_body_size 4m;
    ssl_protocols TLSv1.2 TLSv1.3;
@{[ server_block($np{main}, 'srv', '') ]}
@{[ server_block($np{close}, 'srv', 'keepalive_timeout 0;') ]}
@{[ server_block($np{expired}, 'old', '') ]}
@{[ server_block($np{mtls}, 'srv', "ssl_verify_client on; ssl_client_certificate $dir/ca.pem;") ]}
@{[ server_block($np{tls12}, 'srv', 'keepalive_timeout 0; ssl_protocols TLSv1.2;') ]}
@{[ server_block($np{short}, 'srv', 'keepalive_timeout 2s;') ]}
}
NGINX

my $nginx_pid = fork // die "fork: $!";
if (!$nginx_pid) {
    setpgid(0, 0);
    open STDIN, '<', '/dev/null';
    open STDOUT, '>>', "$nd/logs/stderr.log";
    open STDERR, '>>', "$nd/logs/stderr.log";
    { no warnings 'exec'; exec $NGINX, '-p', "$nd/", '-c', "$nd/nginx.conf", '-e', "$nd/logs/error.log", '-g', 'daemon off;'; }
    _exit(127);
}
END {
    if ($nginx_pid) {
        kill 'TERM', -$nginx_pid;
        my $until = time + 5;
        sleep 0.05 while waitpid($nginx_pid, WNOHANG) == 0 && time < $until;
        kill 'KILL', -$nginx_pid;
    }
}
my $up = wait_until(sub {
    !grep { !IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $_, Timeout => 1) } values %np
}, 10);
ok($up, 'nginx answers on its TLS ports')
    or BAIL_OUT('nginx did not start: ' . (slurp("$nd/logs/error.log") // '') . (slurp("$nd/logs/stderr.log") // ''));

# --- the gateway ---------------------------------------------------------------------------------

$t->set_port($_, $np{$_}) for keys %np;
# A server that accepts connections (the kernel does, into the backlog) and never says a word.
my $mute = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 16) or die "listen: $!";
$t->set_port('mute', $mute->sockport);
my $tls = '{ca: ca.pem, sni: backend.test}';
my $conf = $t->write_conf(<<"CONF");
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
upstreams:
  good: {servers: [{address: 127.0.0.1:%%main%%}], tls: $tls}
  byip: {servers: [{address: 127.0.0.1:%%main%%}], tls: {ca: ca.pem}}
  wrongca: {servers: [{address: 127.0.0.1:%%main%%}], tls: {ca: other-ca.pem, sni: backend.test}}
  wrongname: {servers: [{address: 127.0.0.1:%%main%%}], tls: {ca: ca.pem, sni: wrong.test}}
  expired: {servers: [{address: 127.0.0.1:%%expired%%}], tls: $tls}
  noverify: {servers: [{address: 127.0.0.1:%%expired%%}], tls: {verify: false, sni: wrong.test}}
  mixed:
    servers: [{address: 127.0.0.1:%%expired%%}, {address: 127.0.0.1:%%main%%}]
    tls: $tls
  stall: {servers: [{address: 127.0.0.1:%%mute%%}], connect_timeout: 700ms, tls: $tls}
  mtls_with: {servers: [{address: 127.0.0.1:%%mtls%%}], tls: {ca: ca.pem, sni: backend.test, cert: client.pem, key: client.key}}
  mtls_without: {servers: [{address: 127.0.0.1:%%mtls%%}], tls: $tls}
  resume: {servers: [{address: 127.0.0.1:%%close%%}], tls: $tls}
  resume12: {servers: [{address: 127.0.0.1:%%tls12%%}], tls: $tls}
  noreuse: {servers: [{address: 127.0.0.1:%%close%%}], tls: {ca: ca.pem, sni: backend.test, session_reuse: false}}
  short: {servers: [{address: 127.0.0.1:%%short%%}], tls: $tls}
routes:
@{[ join '', map { "  - {name: $_, match: {path_prefix: /$_/}, strip_prefix: /$_, upstream: $_"
                   . ($_ eq 'mixed' ? ', retries: {attempts: 2}' : '') . "}\n" }
    qw(good byip wrongca wrongname expired noverify mixed stall mtls_with mtls_without resume resume12 noreuse short) ]}
CONF

my $check = $t->run('-t', '-p', $dir, '-c', $conf);
is($check->{exit}, 0, '-t accepts the configuration') or diag($check->{out});
like($check->{out}, qr/^gatewayd: \[warn\] \Q$conf\E:\d+:\d+: warning: upstreams\.noverify\.tls\.verify: false: the servers' certificates are not checked/m,
     '-t warns about verify: false at its key');
$t->start;

my $port = $t->port('http');
sub get_json {
    my ($path, %o) = @_;
    my $r = http_get($port, $path, $o{headers}, %o);
    return ($r, $r && $r->{status} == 200 ? parse_json($r->{body}) : undef);
}
sub hdr { Backend::echo_hdr(@_) }

# --- 1. GET, SNI, the name checked -------------------------------------------------------------

my ($r, $j) = get_json('/good/echo/one');
is($r && $r->{status}, 200, 'GET through TLS to the upstream: 200');
is($j && $j->{path}, '/echo/one', 'the backend got the request');
is($j && hdr($j, 'x-sni'), 'backend.test', 'nginx received sni: as the SNI');
like($j && hdr($j, 'x-proto'), qr/^TLSv1\.3$/, 'TLS 1.3 by default');

($r, $j) = get_json('/byip/echo/ip');
is($r && $r->{status}, 200, 'without sni: the IP address is checked against the IP subjectAltName: 200');
is($j && (hdr($j, 'x-sni') // ''), '', 'and no SNI is sent for an IP address');

# --- 2. 1 MB each way ----------------------------------------------------------------------------

my $mb = 1 << 20;
$r = http_get($port, "/good/bytes/$mb", undef, timeout => 20);
is($r && length($r->{body}), $mb, '1 MB download: every byte');
is($r && Backend::md5_hex($r->{body}), Backend::pattern_md5($mb), '1 MB download: intact');
my $body = Backend::pattern($mb);
$r = http_request($port, "POST /good/upload HTTP/1.1\r\nHost: x\r\nContent-Length: $mb\r\n\r\n$body", timeout => 20);
$j = $r && $r->{status} == 200 ? parse_json($r->{body}) : undef;
is($j && $j->{body_length}, $mb, '1 MB upload: every byte reached the backend');
is($j && $j->{body_md5}, Backend::pattern_md5($mb), '1 MB upload: intact');

# A WebSocket tunnel through TLS: 300 KB each way (many TLS records), then a ping.
my $c = http_connect($port);
$r = Backend::ws_handshake($c, '/good/ws');
is($r && $r->{status}, 101, 'WebSocket through TLS: 101');
my $big = Backend::pattern(300_000);
Backend::ws_send($c, 2, $big);
my $f = Backend::ws_recv($c, 10);
ok($f && $f->[0] == 2 && $f->[1] eq $big, 'a 300 KB frame comes back intact through the TLS tunnel');
Backend::ws_send($c, 9, 'ping-data');
$f = Backend::ws_recv($c);
is_deeply($f && [$f->[0], $f->[1]], [10, 'ping-data'], 'ping -> pong');
$c->close;

# --- 3. keep-alive -------------------------------------------------------------------------------

my @conn;
for my $i (1 .. 4) {
    ($r, $j) = get_json("/good/echo/ka$i");
    push @conn, [hdr($j, 'x-conn') // '?', hdr($j, 'x-conn-req') // 0];
}
my %distinct = map { $_->[0] => 1 } @conn;
is(scalar(keys %distinct), 1, 'four sequential requests used one upstream TLS connection')
    or diag(explain(\@conn));
cmp_ok($conn[-1][1], '>=', 4, 'nginx counted them on that connection');

($r, $j) = get_json('/short/echo/s1');
my $first = $j && hdr($j, 'x-conn');
my $idle = sub { metric_sum($t->metrics, 'gateway_upstream_connections', {upstream => 'short', state => 'idle'}) // -1 };
is($idle->(), 1, 'the connection is kept idle');
ok(wait_until(sub { $idle->() == 0 }, 10), 'the backend closing it (keepalive_timeout 2s) is noticed: no idle connection');
($r, $j) = get_json('/short/echo/s2');
is($r && $r->{status}, 200, 'the next request is answered');
isnt($j && hdr($j, 'x-conn'), $first, '...on a new connection');

# --- 4. verification failures ----------------------------------------------------------------------

my %want = (
    wrongca   => qr/certificate verify failed: unable to get local issuer certificate/,
    wrongname => qr/certificate verify failed: hostname mismatch \(expected "wrong\.test"\)/,
    expired   => qr/certificate verify failed: certificate has expired/,
);
for my $u (sort keys %want) {
    $r = http_get($port, "/$u/echo/x");
    is($r && $r->{status}, 502, "$u: 502");
    ok(wait_until(sub {
        $t->error_log =~ /\[error\] .*TLS handshake with upstream failed: $want{$u}, route: "$u", upstream: "$u"/
    }, 5), "$u: the error log says why") or diag($t->error_log);
}
($r, $j) = get_json('/noverify/echo/nv');
is($r && $r->{status}, 200, 'verify: false: an expired certificate from an unknown CA, for another name, passes');
my $m = $t->metrics;
is(metric_sum($m, 'gateway_upstream_errors_total', {upstream => 'wrongca', kind => 'tls'}), 1,
   'the failure is counted as kind="tls"');
is(metric_sum($m, 'gateway_upstream_errors_total', {upstream => 'good', kind => 'tls'}), 0, 'none for the good upstream');

# --- 5. retried like a connect failure ----------------------------------------------------------------

my @st = map { my $x = http_get($port, "/mixed/echo/m$_"); $x ? $x->{status} : 0 } 1 .. 4;
is_deeply(\@st, [200, 200, 200, 200], 'a server failing its handshake: the request goes to the next server');
cmp_ok(metric_sum($t->metrics, 'gateway_upstream_errors_total', {upstream => 'mixed', kind => 'tls'}) // 0, '>=', 1,
       'the failed handshake was counted');

# --- 6. the handshake counts in the connect timeout (the TCP connect succeeds at once) ---------------------------------------------------

my $t0 = time;
$r = http_get($port, '/stall/echo/x', undef, timeout => 10);
my $took = time - $t0;
is($r && $r->{status}, 504, 'a server that never answers the handshake: 504');
ok($took >= 0.5 && $took < 3, sprintf('within the connect timeout (%.2f s)', $took));
ok(wait_until(sub { $t->error_log =~ /upstream TLS handshake timed out, route: "stall"/ }, 5), 'logged as a handshake timeout');

# --- 7. client certificates ----------------------------------------------------------------------------

($r, $j) = get_json('/mtls_with/echo/c');
is($r && $r->{status}, 200, 'a backend requiring a client certificate: 200 with cert/key');
like($j && hdr($j, 'x-client-dn'), qr/CN=gateway/, 'nginx verified the gateway\'s certificate');
$r = http_get($port, '/mtls_without/echo/c');
is($r && $r->{status}, 400, 'without cert/key: nginx refuses (400)');
like($r && $r->{body}, qr/No required SSL certificate was sent/, '...because no certificate was sent');

# --- 8. session reuse -------------------------------------------------------------------------------------

for my $u ('resume', 'resume12') {
    my @seen;
    for my $i (1 .. 3) {
        ($r, $j) = get_json("/$u/echo/r$i");
        push @seen, [hdr($j, 'x-conn') // '?', hdr($j, 'x-reused') // '?', hdr($j, 'x-proto') // '?'];
    }
    my %c = map { $_->[0] => 1 } @seen;
    is(scalar(keys %c), 3, "$u: the backend closed every connection") or diag(explain(\@seen));
    is($seen[0][1], '.', "$u: the first handshake is a full one");
    is_deeply([map { $_->[1] } @seen[1, 2]], ['r', 'r'], "$u: the next connections resume its session ($seen[0][2])")
        or diag(explain(\@seen));
}

# A reload: the new generation's worker builds its own contexts and pool.
my $gen = sub { my $st = $t->status_json; $st ? $st->{generation} : 0 };
$t->signal('HUP');
ok(wait_until(sub { $gen->() == 2 }, 10), 'reloaded (generation 2)');
($r, $j) = get_json('/good/echo/after-reload');
is($r && $r->{status}, 200, 'after the reload: 200 through TLS');
is($j && hdr($j, 'x-sni'), 'backend.test', '...with SNI');

my @full = map { my (undef, $x) = get_json("/noreuse/echo/n$_"); $x ? hdr($x, 'x-reused') // '?' : '?' } 1 .. 2;
is_deeply(\@full, ['.', '.'], 'session_reuse: false: every connection makes a full handshake');

$t->stop;

# --- 9. -t and -T ---------------------------------------------------------------------------------------

my $dump = $t->run('-T', '-p', $dir, '-c', $conf);
is($dump->{exit}, 0, '-T succeeds') or diag($dump->{out});
like($dump->{stdout}, qr/^  "mtls_with":\n(?:    .*\n)*?    tls:\n      verify: true\n      ca: "\Q$dir\E\/ca\.pem"\n      sni: "backend\.test"\n      cert: "\Q$dir\E\/client\.pem"\n      key: "\Q$dir\E\/client\.key"\n      protocols: \["TLSv1\.2", "TLSv1\.3"\]\n/m,
     '-T: the tls map of an upstream, paths absolute');
like($dump->{stdout}, qr/^  "byip":\n(?:    .*\n)*?    tls:\n      verify: true\n      ca: .*\n      # sni: not set \(each server's address\)\n/m,
     '-T: sni not set');
like($dump->{stdout}, qr/^      session_reuse: true\n/m, '-T: session_reuse');
GatewayTest::spew("$dir/dumped.conf", $dump->{stdout});
my $again = $t->run('-t', '-p', $dir, '-c', "$dir/dumped.conf");
is($again->{exit}, 0, 'the dump loads again') or diag($again->{out});

my $bad = "$dir/bad.conf";
GatewayTest::spew($bad, <<"CONF");
listeners:
  - address: 127.0.0.1:1
upstreams:
  a:
    servers: [{address: 127.0.0.1:2}]
    tls: {ca: missing-ca.pem}
  b:
    servers: [{address: 127.0.0.1:2}]
    tls: {cert: missing.pem, key: client.key}
  c:
    servers: [{address: 127.0.0.1:2}]
    tls: {cert: client.pem, key: missing.key}
  d:
    servers: [{address: 127.0.0.1:2}]
    tls: {cert: client.pem}
  e:
    servers: [{address: 127.0.0.1:2}]
    tls: {sni: 10.0.0.1}
  f:
    servers: [{address: unix:/tmp/sock}]
    tls: {}
  g:
    servers: [{address: 127.0.0.1:2}]
    tls: {verify: true, protocols: [TLSv1.1]}
routes:
  - {name: r, match: {path_prefix: /}, upstream: a}
CONF
my $e = $t->run('-t', '-p', $dir, '-c', $bad);
isnt($e->{exit}, 0, '-t fails on the bad configuration');
like($e->{out}, qr/^gatewayd: \[emerg\] \Q$bad\E:6:15: upstreams\.a\.tls\.ca: cannot read "\Q$dir\E\/missing-ca\.pem": /m,
     '-t: a CA file that cannot be read, at its key');
like($e->{out}, qr/^gatewayd: \[emerg\] \Q$bad\E:9:17: upstreams\.b\.tls\.cert: cannot read "\Q$dir\E\/missing\.pem": /m,
     '-t: a client certificate that cannot be read');
like($e->{out}, qr/^gatewayd: \[emerg\] \Q$bad\E:12:34: upstreams\.c\.tls\.key: cannot read "\Q$dir\E\/missing\.key": /m,
     '-t: a client key that cannot be read');
like($e->{out}, qr/^gatewayd: \[emerg\] \Q$bad\E:15:\d+: upstreams\.d\.tls.*key/m, '-t: cert without key');
like($e->{out}, qr/^gatewayd: \[emerg\] \Q$bad\E:18:16: upstreams\.e\.tls\.sni: "10\.0\.0\.1" is an IP address/m,
     '-t: an IP address as sni');
like($e->{out}, qr/^gatewayd: \[emerg\] \Q$bad\E:21:10: upstreams\.f\.tls: server "unix:\/tmp\/sock" is a unix socket/m,
     '-t: a unix socket server without sni');
like($e->{out}, qr/^gatewayd: \[emerg\] \Q$bad\E:24:\d+: upstreams\.g\.tls\.protocols: TLSv1\.1 is unsafe/m,
     '-t: protocols read as on listeners');

done_testing;
