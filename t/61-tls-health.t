#!/usr/bin/perl
# Active health checks of an upstream with `tls:` (issue 14's gap, closed with the HTTP client's
# TLS): the master probes over TLS with the upstream's own settings. Servers are `openssl s_server
# -WWW` (a real TLS peer serving its directory's files):
#   1. a server whose certificate chains to the upstream's `ca:`: probes are good, the server is
#      up, and proxied requests reach it over TLS;
#   2. a server whose certificate another CA issued: every probe fails (counted), the server goes
#      down, logged with the verification's reason.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use GatewayTest;
use TestCerts;

my $t = GatewayTest->new;
require_modules('tls');
plan skip_all => 'the openssl command is not installed' unless TestCerts::available();

my $dir = $t->dir;
my $certs = TestCerts->new($dir);
$certs->ca('ca');
$certs->ca('other-ca');
$certs->cert('good', ca => 'ca', cn => 'backend.test', san => 'DNS:backend.test,IP:127.0.0.1');
$certs->cert('stranger', ca => 'other-ca', cn => 'backend.test', san => 'DNS:backend.test,IP:127.0.0.1');

my $www = "$dir/www";
mkdir $www;
spew("$www/hc", "ok\n");
spew("$www/page", "served over tls\n");


my $good = $certs->s_server_www($www, 'good');
my $stranger = $certs->s_server_www($www, 'stranger');
$t->set_port('good', $good);
$t->set_port('stranger', $stranger);
$t->write_conf(<<'CONF');
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
upstreams:
  good:
    servers: [{address: 127.0.0.1:%%good%%}]
    tls: {ca: ca.pem}
    health_check: {path: /hc, interval: 300ms, timeout: 250ms, fall: 2, rise: 2}
  stranger:
    servers: [{address: 127.0.0.1:%%stranger%%}]
    tls: {ca: ca.pem}
    health_check: {path: /hc, interval: 300ms, timeout: 250ms, fall: 2, rise: 2}
routes:
  - {name: good, match: {path_prefix: /}, upstream: good}
CONF
$t->start;

sub up { my ($upstream, $port) = @_;
    metric_sum($t->metrics // {}, 'gateway_upstream_server_up', { upstream => $upstream, server => "127.0.0.1:$port" }) }
sub checks { my ($upstream, $result) = @_;
    metric_sum($t->metrics // {}, 'gateway_health_checks_total', { upstream => $upstream, result => $result }) // 0 }

# --- 1. probes over TLS, verified against ca: --------------------------------------------------------
ok(wait_until(sub { checks('good', 'good') >= 2 }, 10), 'probes of the TLS upstream are good') or diag($t->error_log);
is(checks('good', 'bad'), 0, '... none bad');
is(up('good', $good), 1, '... and the server is up');
my $r = $t->get('/page');
is($r && $r->{status}, 200, 'a request is proxied to it over TLS');
like($r ? $r->{body} : '', qr/served over tls/, '... with its body');

# --- 2. a certificate from another CA ----------------------------------------------------------------
ok(wait_until(sub { checks('stranger', 'bad') >= 2 }, 10), 'a server the CA did not certify fails its probes (counted)');
is(checks('stranger', 'good'), 0, '... never good');
ok(wait_until(sub { (up('stranger', $stranger) // 1) == 0 }, 10), '... and goes down');
like($t->error_log, qr/health check: upstream "stranger", server 127\.0\.0\.1:\d+ is down after 2 failed checks \(last: [^)]*certificate verify failed/,
     '... logged with the verification\'s reason');

$t->stop;
done_testing();
