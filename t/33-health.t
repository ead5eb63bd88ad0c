#!/usr/bin/perl
# Active and passive health checks.
#   1. Active: with 2 workers, probes run once per node (in the master), not once per worker.
#   2. A backend that goes down is out of rotation after `fall` failed probes; while it is out no
#      request goes to it (even once it is back, until `rise` good probes); then it is back in.
#      State shows in /metrics and /status, and survives a reload.
#   3. Passive: max_fails connection failures within fail_timeout take a server out for every
#      worker; all_down decides what happens when every server is out.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;
require_modules('health');

my $a = Backend->new(name => 'a')->start;
my $b = Backend->new(name => 'b')->start;
my $dead = Backend::dead_port();
my $t = GatewayTest->new;
$t->set_port('be_a', $a->port);
$t->set_port('be_b', $b->port);
$t->set_port('dead', $dead);

sub config {
    my ($extra) = @_;
    return conf_head(2) . <<"EOF";
upstreams:
  app:
    servers: [{address: 127.0.0.1:%%be_a%%}, {address: 127.0.0.1:%%be_b%%}]
    health_check: {path: /hc, interval: 200ms, timeout: 150ms, fall: 2, rise: 2}
    max_fails: 0
  flaky:
    servers: [{address: 127.0.0.1:%%dead%%}, {address: 127.0.0.1:%%be_a%%}]
    max_fails: 2
    fail_timeout: 30s
    all_down: reject
routes:
  - name: app
    match: {path_prefix: /app/}
    strip_prefix: /app
    upstream: app
  - name: flaky
    match: {path_prefix: /flaky/}
    strip_prefix: /flaky
    upstream: flaky
$extra
EOF
}

$t->write_conf(config(''));
$t->start;

my $B = '127.0.0.1:' . $b->port;
sub up_gauge {
    my ($server) = @_;
    return metric_sum($t->metrics // {}, 'gateway_upstream_server_up', { upstream => 'app', server => $server });
}
sub checks {
    my ($server, $result) = @_;
    return metric_sum($t->metrics // {}, 'gateway_health_checks_total', { upstream => 'app', server => $server, result => $result }) // 0;
}
sub server_status {
    my ($name, $addr) = @_;
    my $s = $t->status_json or return undef;
    my ($u) = grep { $_->{name} eq $name } @{ $s->{upstreams} // [] } or return undef;
    my ($sv) = grep { $_->{address} eq $addr } @{ $u->{servers} };
    return $sv;
}
sub hc_count { my ($be) = @_; return $be->count_requests(qr{^/hc}) }
sub app_count { my ($be) = @_; return scalar grep { !m{^/hc} } @{ $be->stats->{paths} } }

# --- 1. probes once per node -----------------------------------------------------------------------
ok(wait_until(sub { checks($B, 'good') >= 2 }, 5), 'probes run and succeed');
is(up_gauge($B), 1, 'gateway_upstream_server_up 1');
$a->reset_stats;
my $t0 = time;
sleep 1.0;
my $n = hc_count($a);
my $expected = (time - $t0) / 0.2;
ok($n >= $expected - 2 && $n <= $expected + 2,
   sprintf('about one probe per interval with 2 workers: %d in %.1f s (interval 200ms) - once per node', $n, time - $t0));

my %seen;
for (1 .. 20) { my $r = $t->get('/app/id'); $seen{ $r ? $r->{body} : 'none' }++ }
ok($seen{a} && $seen{b}, "both servers in rotation (a=" . ($seen{a} // 0) . ", b=" . ($seen{b} // 0) . ")");

# --- 2. a backend goes down, comes back ------------------------------------------------------------
$b->stop;
ok(wait_until(sub { (up_gauge($B) // 1) == 0 }, 5), 'the stopped backend is marked down');
like($t->error_log, qr/health check: upstream "app", server \Q$B\E is down after 2 failed checks/, 'logged');
my $sv = server_status('app', $B);
is($sv && $sv->{health}, 'down', '/status shows it down');
ok($sv && $sv->{checks} > 0, "/status shows the observation number ($sv->{checks})");

%seen = ();
for (1 .. 20) { my $r = $t->get('/app/id'); $seen{ $r ? "$r->{status} $r->{body}" : 'none' }++ }
is_deeply(\%seen, { '200 a' => 20 }, 'every request goes to the healthy server, none fails');

# survives a reload
$t->write_conf(config("# reloaded\n"));
my $gen = ($t->status_json // {})->{generation} // 0;
$t->signal('HUP');
ok(wait_until(sub { (($t->status_json // {})->{generation} // 0) > $gen }, 10), 'reloaded');
$sv = server_status('app', $B);
is($sv && $sv->{health}, 'down', 'still down right after the reload (state kept in shared memory)');

# back up: until `rise` good probes, still no request to it
$b->start;
$b->reset_stats;
my $stop_at = time + 5;
my $marked_up_at;
while (time < $stop_at) {
    $t->get('/app/id');
    if (!$marked_up_at && (up_gauge($B) // 0) == 1) { $marked_up_at = time; last }
}
ok($marked_up_at, 'the backend is back in rotation after rise good probes');
my @paths = @{ $b->stats->{paths} };
my ($first_app) = grep { $paths[$_] !~ m{^/hc} } 0 .. $#paths;
ok(!defined $first_app || $first_app >= 2,
   'no request reached it before 2 good probes (paths: ' . join(' ', @paths[0 .. ($#paths < 5 ? $#paths : 5)]) . ')');
%seen = ();
for (1 .. 20) { my $r = $t->get('/app/id'); $seen{ $r ? $r->{body} : 'none' }++ }
ok($seen{b}, 'requests reach it again (b=' . ($seen{b} // 0) . ')');
like($t->error_log, qr/server \Q$B\E is up after 2 good checks/, 'logged');

# --- 3. passive checks, shared by all workers; all_down ---------------------------------------------
my $D = "127.0.0.1:$dead";
my $refused = sub { metric_sum($t->metrics // {}, 'gateway_upstream_errors_total', { upstream => 'flaky', server => $D, kind => 'connect_refused' }) // 0 };
for (1 .. 12) { $t->get('/flaky/id') }    # over both workers (new connections)
my $fails = $refused->();
ok($fails >= 2 && $fails <= 3, "the dead server was tried max_fails (2) times, all workers together: $fails");
like($t->error_log, qr/server \Q$D\E: 2 failures within fail_timeout/, 'taken out, logged');
is(server_status('flaky', $D)->{health}, 'passive_down', '/status: passive_down');
for (1 .. 10) { $t->get('/flaky/id') }
is($refused->(), $fails, 'no more attempts on it while it is out');

# every server out, all_down: reject -> 503 at once
$a->stop;
for (1 .. 6) { $t->get('/flaky/id') }    # a is refused twice -> out too
my $r = $t->get('/flaky/id');
is($r && $r->{status}, 503, 'every server out, all_down: reject: 503');
like($r && $r->{body}, qr/all servers down/, '... saying so');

$t->stop;
done_testing();
