#!/usr/bin/perl
# An external TLS scanner against gatewayd (issue 14): testssl.sh (the Debian package) scans a TLS
# listener with the default protocols and ciphers and two certificates for one name, ECDSA P-256
# and RSA 2048. The test fails on any finding of severity MEDIUM, HIGH or CRITICAL, on a scan
# problem, and on a weak protocol (SSLv2, SSLv3, TLS 1.0, TLS 1.1) or cipher category (NULL,
# aNULL, EXPORT, LOW, 3DES/IDEA, obsolete CBC) offered.
#
# With TESTSSL_COMPARE=1, nginx with Debian's default ssl_* settings (from /etc/nginx/nginx.conf:
# ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3; ssl_prefer_server_ciphers on), the same
# certificates, is scanned at the same time for the comparison: printed as diag lines, not
# asserted (README, TLS, records the last comparison). `make test` leaves it out: a scan costs
# minutes of CPU, and the comparison does not change with gatewayd.
#
# Scanned: --protocols --std --vulnerable, with --fast. --headers is left out: it judges the
# application's answer (X-Frame-Options and the like: a `return:` route here), not TLS. On the
# 2-core machine shared with builds, testssl spends ~35 s probing its own openssl before it
# connects, and a scan takes 2 to 4 minutes; both scans run in parallel.

use strict;
use warnings;
no warnings 'exec';    # exec, then _exit if it failed
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time);
use GatewayTest;

my $t = GatewayTest->new;
require_modules('tls');
my ($testssl) = grep { -x } map { ("$_/testssl", "$_/testssl.sh") } split /:/, $ENV{PATH};
plan skip_all => 'testssl.sh is not installed (Debian package testssl.sh)' unless $testssl;
plan skip_all => 'the openssl command is not installed' unless system('openssl version >/dev/null 2>&1') == 0;
my ($nginx) = $ENV{TESTSSL_COMPARE} ? grep { -x } ('/usr/sbin/nginx', map { "$_/nginx" } split /:/, $ENV{PATH}) : ();

my $dir = $t->dir;
sub openssl {
    my $cmd = shift;
    system("cd '$dir' && openssl $cmd >/dev/null 2>&1") == 0 or BAIL_OUT("openssl $cmd failed");
}
my $san = '-addext subjectAltName=DNS:localhost,IP:127.0.0.1';
openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ecdsa.key -out ecdsa.pem -days 30 "
        . "-subj /CN=localhost $san");
openssl("req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.pem -days 30 -subj /CN=localhost $san");

$t->write_conf(<<'CONF');
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: notice}
listeners:
  - address: 127.0.0.1:%%https%%
    tls:
      certificates:
        - {cert: ecdsa.pem, key: ecdsa.key}
        - {cert: rsa.pem, key: rsa.key}
  - {address: 127.0.0.1:%%admin%%, admin: true}
routes:
  - name: hello
    match: {path_prefix: /}
    return: {status: 200, body: "hello\n"}
CONF
$t->start;

# nginx, as Debian configures TLS by default.
my ($nginx_pid, $nginx_port);
if ($nginx) {
    my @debian = grep { /^\s*ssl_/ } split /\n/, (slurp('/etc/nginx/nginx.conf') // '');
    @debian = ('ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;', 'ssl_prefer_server_ciphers on;') unless @debian;
    s/#.*//, s/^\s+// for @debian;
    $nginx_port = free_port();
    my $nd = "$dir/nginx";
    mkdir $nd;
    mkdir "$nd/$_" for qw(logs tmp);
    my $user = $> == 0 ? "user root;\n" : '';
    spew("$nd/nginx.conf", <<"EOF");
${user}worker_processes 1;
error_log $nd/logs/error.log warn;
pid $nd/logs/nginx.pid;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $nd/tmp/body;
    proxy_temp_path $nd/tmp/proxy;
    fastcgi_temp_path $nd/tmp/fastcgi;
    uwsgi_temp_path $nd/tmp/uwsgi;
    scgi_temp_path $nd/tmp/scgi;
    @{[join "\n    ", @debian]}
    server {
        listen 127.0.0.1:$nginx_port ssl;
        server_name localhost;
        ssl_certificate $dir/ecdsa.pem;
        ssl_certificate_key $dir/ecdsa.key;
        ssl_certificate $dir/rsa.pem;
        ssl_certificate_key $dir/rsa.key;
        location / { return 200 "hello\\n"; }
    }
}
EOF
    $nginx_pid = fork // die "fork: $!";
    if (!$nginx_pid) {
        open STDOUT, '>', "$nd/logs/stdout.log";
        open STDERR, '>&', \*STDOUT;
        exec { $nginx } $nginx, '-p', "$nd/", '-c', "$nd/nginx.conf", '-g', 'daemon off;';
        POSIX::_exit(127);
    }
    unless (wait_until(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$nginx_port", Timeout => 1) }, 10)) {
        diag('nginx did not start: ' . (slurp("$nd/logs/stdout.log") // '') . (slurp("$nd/logs/error.log") // ''));
        kill 'TERM', $nginx_pid;
        waitpid $nginx_pid, 0;
        undef $nginx_pid;
    }
}
END { if ($nginx_pid) { kill 'TERM', $nginx_pid; waitpid $nginx_pid, 0 } }

# Starts a scan of 127.0.0.1:$port; returns [pid, json file, output file, start time].
sub start_scan {
    my ($name, $port) = @_;
    my ($json, $out) = ("$dir/$name.json", "$dir/$name.out");
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', $out;
        open STDERR, '>&', \*STDOUT;
        open STDIN, '<', '/dev/null';
        exec { 'timeout' } 'timeout', '900', $testssl, '--quiet', '--fast', '--warnings', 'off', '--color', '0', '--nodns', 'none',
            '--jsonfile', $json, '--protocols', '--std', '--vulnerable', "127.0.0.1:$port";
        POSIX::_exit(127);
    }
    return { name => $name, pid => $pid, json => $json, out => $out, start => time };
}

sub finish_scan {
    my ($s) = @_;
    waitpid $s->{pid}, 0;
    $s->{status} = $? >> 8;
    $s->{seconds} = time - $s->{start};
    my $findings = parse_json(slurp($s->{json}));
    $s->{findings} = ref $findings eq 'ARRAY' ? $findings : [];
    $s->{by_id} = { map { ($_->{id} => $_) } @{ $s->{findings} } };
    return $s;
}

my @scans = (start_scan('gatewayd', $t->port('https')));
push @scans, start_scan('nginx', $nginx_port) if $nginx_pid;
finish_scan($_) for @scans;
my ($gw, $ng) = @scans;

# One line per scan: what a README can quote.
sub summary {
    my ($s) = @_;
    my $f = $s->{by_id};
    my $finding = sub { my $x = $f->{ $_[0] }; $x ? $x->{finding} : 'not tested' };
    my @protocols = grep { ($f->{$_}{finding} // '') =~ /^offered/ } qw(SSLv2 SSLv3 TLS1 TLS1_1 TLS1_2 TLS1_3);
    my @weak = grep { ($f->{"cipherlist_$_"}{finding} // '') =~ /^offered/ } qw(NULL aNULL EXPORT LOW 3DES_IDEA AVERAGE);
    my %count;
    $count{ $_->{severity} }++ for @{ $s->{findings} };
    my @notable = map { "$_->{id} $_->{severity}: $_->{finding}" }
        grep { $_->{severity} =~ /^(LOW|MEDIUM|HIGH|CRITICAL|FATAL)$/ } @{ $s->{findings} };
    return sprintf("%s: %d s; protocols offered: %s; weak cipher categories offered: %s; findings: %s%s",
                   $s->{name}, $s->{seconds}, join(' ', @protocols) || 'none', join(' ', @weak) || 'none',
                   join(', ', map { "$count{$_} $_" } sort keys %count),
                   @notable ? "; notable: " . join('; ', @notable) : '');
}

ok(scalar(@{ $gw->{findings} }) > 20, "testssl scanned gatewayd and wrote its findings (exit $gw->{status})")
    or diag(slurp($gw->{out}));
diag(summary($gw));
ok($gw->{by_id}{heartbleed} && $gw->{by_id}{ROBOT} && $gw->{by_id}{cipherlist_NULL},
   '... the protocol, cipher and vulnerability checks all ran');
my @bad = grep { $_->{severity} =~ /^(MEDIUM|HIGH|CRITICAL|FATAL)$/ } @{ $gw->{findings} };
is(scalar(@bad), 0, 'no finding of severity MEDIUM, HIGH or CRITICAL, and no scan problem')
    or diag(join "\n", map { "$_->{id} $_->{severity}: $_->{finding}" } @bad);
for my $p (qw(SSLv2 SSLv3 TLS1 TLS1_1)) {
    like($gw->{by_id}{$p}{finding} // 'not tested', qr/^not offered/, "$p not offered");
}
like($gw->{by_id}{TLS1_2}{finding} // 'not tested', qr/^offered/, 'TLS 1.2 offered');
like($gw->{by_id}{TLS1_3}{finding} // 'not tested', qr/^offered/, 'TLS 1.3 offered');
for my $c (qw(NULL aNULL EXPORT LOW 3DES_IDEA AVERAGE)) {
    like($gw->{by_id}{"cipherlist_$c"}{finding} // 'not tested', qr/^not offered/, "cipher category $c not offered");
}
like($gw->{by_id}{cipherlist_STRONG}{finding} // 'not tested', qr/^offered/, 'strong (AEAD) ciphers offered');

if ($ng) {
    diag(summary($ng));
    diag('nginx\'s scan wrote nothing: ' . (slurp($ng->{out}) // '')) unless @{ $ng->{findings} };
} else {
    diag($ENV{TESTSSL_COMPARE} ? 'nginx is not installed: no comparison' : 'no comparison with nginx (TESTSSL_COMPARE=1 adds it)');
}

$t->stop;
done_testing;
