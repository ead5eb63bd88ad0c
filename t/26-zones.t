#!/usr/bin/perl
# Shared-memory zones a configuration stops using are freed: the master unmaps a zone once the
# last worker of the generations that used it has exited (the workers had mappings of their
# own), so that its memory goes back to the system:
#   1. a reload that drops the rate limits frees the "ratelimit" zone when the old worker is gone;
#   2. a reload that brings them back makes it afresh;
#   3. a reload that resizes it makes a new one at once and frees the old size with its
#      generation; the new zone serves (the limits count in it);
#   4. the fixed zones (breaker, health, metrics, status) stay through all of it.
# What the master maps is read from /proc/PID/maps (a zone is a memfd, "memfd:gatewayd:NAME").

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use GatewayTest;
require_modules('ratelimit');

my $t = GatewayTest->new;

sub config {
    my ($zone_size) = @_;    # undef: no rate limits
    my $c = <<'EOF';
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
shutdown_timeout: 10s
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
EOF
    return $c . "routes:\n  - {name: hello, match: {path: /hello}, return: {body: \"hello\"}}\n"
        unless $zone_size;
    return $c . <<"EOF";
rate_limit_zone_size: $zone_size
rate_limits:
  two: {key: ip, rate: 2/d, algorithm: fixed_window}
routes:
  - {name: hello, match: {path: /hello}, return: {body: "hello"}, rate_limit: two}
EOF
}

# The master's mappings of zone $name.
sub mappings {
    my ($name) = @_;
    my $maps = GatewayTest::slurp("/proc/" . $t->pid . "/maps") // '';
    return scalar(() = $maps =~ /memfd:gatewayd:\Q$name\E /g);
}

sub log_count {
    my ($re) = @_;
    return scalar(() = $t->error_log =~ /$re/g);
}

my $generation = 1;

# Reloads with $text and waits until the new generation serves and the old one's worker has
# exited (the master frees what it no longer needs at that moment).
sub reload_and_settle {
    my ($text) = @_;
    $t->write_conf($text);
    $t->signal('HUP');
    $generation++;
    ok(wait_until(sub {
        my $s = $t->status_json;
        return 0 unless $s && $s->{generation} == $generation;
        my @w = $t->workers;
        return @w && !grep { $_->{title} !~ /\(generation $generation\)/ } @w;
    }, 15), "generation $generation serves, alone");
}

my $freed = qr/shared memory zone "ratelimit" \(1m\) freed: no configuration uses it any more/;

$t->write_conf(config('1m'));
$t->start;
is(mappings('ratelimit'), 1, 'the master maps the ratelimit zone');
is(mappings($_), 1, "and the $_ zone") for qw(breaker health metrics status);

# --- 1. the rate limits go -------------------------------------------------------------------
reload_and_settle(config(undef));
ok(wait_until(sub { log_count($freed) == 1 }, 5), 'freed once the old worker exited') or diag($t->error_log);
is(mappings('ratelimit'), 0, 'the master no longer maps it');
is(mappings($_), 1, "the $_ zone stays") for qw(breaker health metrics status);

# --- 2. and come back ------------------------------------------------------------------------
reload_and_settle(config('1m'));
is(log_count(qr/rate limits: \d+ entries in shared memory zone "ratelimit" \(1m\)/), 2, 'made afresh');
is(mappings('ratelimit'), 1, 'mapped again');
is(http_get($t->port('http'), '/hello')->{status}, 200, 'a first request passes');

# --- 3. resized ------------------------------------------------------------------------------
reload_and_settle(config('2m'));
like($t->error_log, qr/shared memory zone "ratelimit" resized to 2m: rate limit counters start over/,
     'resized: a new zone');
ok(wait_until(sub { log_count($freed) == 2 }, 5), 'the 1m zone is freed with its generation');
is(mappings('ratelimit'), 1, 'the master maps only the new one');
my @status = map { http_get($t->port('http'), '/hello')->{status} } 1 .. 3;
is("@status", '200 200 429', 'the new zone counts: two requests pass, the third is limited');
is(mappings($_), 1, "the $_ zone stays") for qw(breaker health metrics status);

$t->stop;
done_testing();
