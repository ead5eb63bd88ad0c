#!/usr/bin/perl
# Self-test of the load generator (t/helpers/loadgen.c through t/lib/Load.pm), without gatewayd:
# the tests that reload, upgrade or kill gatewayd under load trust its "failed 0", so here it has
# to prove that it does count failures, each under the right reason, against the real backends of
# t/lib/Backend.pm: good answers, error statuses, bodies cut short, Connection: close, a port
# without a listener, connections closed without an answer, answers too slow, garbage; and the
# other framings (chunked with trailers, 1xx, close-delimited, 204/304) counted as they should.
#
# For every run: each request sent ends exactly once (ok + failed == sent + failed connection
# attempts), and none is left in flight after stop.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp ();
use Time::HiRes qw(time sleep);
use Backend;
use Load;

sub find_in_path {
    my ($prog) = @_;
    for my $d (split /:/, $ENV{PATH} // '') {
        return "$d/$prog" if length $d && -x "$d/$prog" && !-d "$d/$prog";
    }
    return undef;
}

find_in_path($ENV{CC} // 'cc')
    or plan skip_all => 'no C compiler (cc) in PATH: t/helpers/loadgen.c cannot be built';

my $tmp = File::Temp->newdir('gatewayd-loadgen-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $dir = "$tmp";
my $bin = eval { Load::build($dir) };
ok($bin && -x $bin, 't/helpers/loadgen.c compiled') or do { diag($@); done_testing(); exit 1 };
is(Load::build($dir), $bin, 'built once per directory');

sub start_load {
    my (%o) = @_;
    return Load->start(bin => $bin, dir => $dir, connections => 8, timeout_ms => 5000, %o);
}

# Waits until $cond->(progress) holds; false after $timeout s.
sub wait_progress {
    my ($lg, $cond, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (time < $deadline) {
        return 1 if $cond->($lg->progress);
        sleep 0.05;
    }
    return 0;
}

sub n { $_[0] // 0 }

sub connect_failures {
    my ($r) = @_;
    return n($r->{failure}{connect_refused}) + n($r->{failure}{connect_timeout})
         + n($r->{failure}{connect_failed});
}

# Every request sent ended exactly once.
sub accounted {
    my ($r, $name) = @_;
    my $ok = is($r->{ok} + $r->{failed}, $r->{sent} + connect_failures($r),
                "$name: ok + failed == sent + failed connection attempts");
    $ok &&= is(n($r->{inflight}), 0, "$name: nothing in flight after stop");
    my $fsum = 0;
    $fsum += $_ for values %{ $r->{failure} };
    $ok &&= is($fsum, $r->{failed}, "$name: failures by reason add up to failed");
    diag(Load::summary($r)) unless $ok;
}

my $ba = Backend->new(name => 'a')->start;

# --- (a) a healthy backend: everything ok, every body counted -------------------------------------
{
    my $lg = start_load(port => $ba->port, path => '/id');
    ok($lg->wait_ok(1, 5), '(a) first responses') or diag(Load::summary($lg->progress));
    my $p = $lg->progress;
    ok(defined $p->{ok} && ref $p->{status} eq 'HASH' && !$p->{done}, '(a) progress: a report, not final');
    sleep 1;
    my $r = $lg->stop;
    note('(a) ' . Load::summary($r));
    cmp_ok($r->{ok}, '>', 0, '(a) responses counted ok');
    is($r->{failed}, 0, '(a) no failure') or diag(Load::summary($r));
    is(n($r->{body}{a}), $r->{ok}, '(a) body{a} == ok');
    is(n($r->{status}{200}), $r->{ok}, '(a) status{200} == ok');
    is($r->{sent}, $r->{ok}, '(a) every request sent was answered');
    is($r->{reconnects}, 0, '(a) no reconnect on keep-alive');
    is($r->{connects}, 8, '(a) one connection each');
    accounted($r, '(a)');
    is_deeply($lg->stop, $r, '(a) stop again: the same report');
}

# --- (b) an error status: failed, by status -----------------------------------------------------
{
    my $lg = start_load(port => $ba->port, path => '/status/503');
    ok(wait_progress($lg, sub { n($_[0]{failed}) >= 20 }), '(b) failures come');
    my $r = $lg->stop;
    note('(b) ' . Load::summary($r));
    is($r->{ok}, 0, '(b) nothing ok');
    cmp_ok($r->{failed}, '>=', 20, '(b) failures counted');
    is(n($r->{failure}{status_503}), $r->{failed}, '(b) every failure is status_503');
    is(n($r->{status}{503}), $r->{failed}, '(b) status{503} == failed');
    is(n($r->{body}{status_503}), $r->{failed}, '(b) body "status 503" counted as status_503');
    is($r->{reconnects}, 0, '(b) the connections are kept');
    accounted($r, '(b)');
}

# --- (c) bodies cut short: eof_mid_response, never ok --------------------------------------------
{
    my $lg = start_load(port => $ba->port, path => '/close-mid/100');
    ok(wait_progress($lg, sub { n($_[0]{failed}) >= 20 }), '(c) failures come');
    my $r = $lg->stop;
    note('(c) ' . Load::summary($r));
    is($r->{ok}, 0, '(c) nothing ok');
    cmp_ok(n($r->{failure}{eof_mid_response}), '>=', 20, '(c) eof_mid_response counted');
    is(n($r->{failure}{eof_mid_response}), $r->{failed}, '(c) and nothing else');
    is_deeply($r->{status}, {}, '(c) no complete response');
    accounted($r, '(c)');
}

# --- (d) Connection: close after 3 requests: reconnects, no failure -----------------------------
{
    my $b = Backend->new(name => 'd', max_requests => 3)->start;
    my $lg = start_load(port => $b->port, path => '/id');
    ok(wait_progress($lg, sub { n($_[0]{reconnects}) >= 30 }), '(d) reconnects come')
        or diag(Load::summary($lg->progress));
    my $r = $lg->stop;
    note('(d) ' . Load::summary($r));
    is($r->{failed}, 0, '(d) no failure') or diag(Load::summary($r));
    cmp_ok($r->{reconnects}, '>=', 30, '(d) reconnects counted');
    cmp_ok($r->{ok}, '>=', 3 * $r->{reconnects}, '(d) 3 answers per connection');
    is(n($r->{body}{d}), $r->{ok}, '(d) body{d} == ok');
    is($r->{connects}, $r->{reconnects} + 8, '(d) connects: one per reconnect plus the first ones');
    accounted($r, '(d)');
    $b->stop;
}

# --- (e) nobody listening: connect_refused, retried every 10 ms, not in a busy loop -------------
{
    my $dead = dead_port();
    my $lg = start_load(port => $dead, path => '/id', connections => 5);
    sleep 0.6;
    my $r = $lg->stop;
    note('(e) ' . Load::summary($r));
    is($r->{ok}, 0, '(e) nothing ok');
    is($r->{sent}, 0, '(e) no request sent');
    cmp_ok(n($r->{failure}{connect_refused}), '>=', 5, '(e) connect_refused counted');
    is(n($r->{failure}{connect_refused}), $r->{failed}, '(e) and nothing else');
    is($r->{connects}, $r->{failed}, '(e) one failure per connection attempt');
    my $per_conn_s = $r->{connects} / 5 / (($r->{elapsed_ms} || 1) / 1000);
    cmp_ok($per_conn_s, '<', 200, sprintf('(e) no busy loop: %.0f attempts per connection per second', $per_conn_s));
    accounted($r, '(e)');
}

# --- (f) a connection closed without an answer: eof_before_response -----------------------------
{
    my $b = Backend->new(name => 'f', close_nth => 2)->start;
    my $lg = start_load(port => $b->port, path => '/id');
    ok(wait_progress($lg, sub { n($_[0]{failed}) >= 20 }), '(f) failures come')
        or diag(Load::summary($lg->progress));
    my $r = $lg->stop;
    note('(f) ' . Load::summary($r));
    cmp_ok(n($r->{failure}{eof_before_response}), '>=', 20, '(f) eof_before_response counted');
    is(n($r->{failure}{eof_before_response}), $r->{failed}, '(f) and nothing else');
    cmp_ok(abs($r->{ok} - $r->{failed}), '<=', 8, '(f) one ok, one failure per connection');
    is(n($r->{body}{f}), $r->{ok}, '(f) body{f} == ok');
    is($r->{reconnects}, 0, '(f) a failure is no reconnect');
    accounted($r, '(f)');
    $b->stop;
}

# --- (g) answers too slow: timeout; also for the requests outstanding at stop --------------------
{
    my $lg = start_load(port => $ba->port, path => '/slow-head/5000', connections => 3,
                        timeout_ms => 300);
    ok(wait_progress($lg, sub { n($_[0]{failure}{timeout}) >= 3 }), '(g) timeouts come')
        or diag(Load::summary($lg->progress));
    sleep 0.15;    # the next requests are out (a timed-out connection is opened again at once)
    my $p = $lg->progress;
    my $t0 = time;
    my $r = $lg->stop;
    my $took = time - $t0;
    note('(g) before stop: ' . Load::summary($p));
    note('(g) ' . Load::summary($r) . sprintf(' stop took %.2fs', $took));
    is($r->{ok}, 0, '(g) nothing ok');
    cmp_ok(n($r->{failure}{timeout}), '>=', 3, '(g) timeouts counted');
    is(n($r->{failure}{timeout}) + connect_failures($r), $r->{failed}, '(g) and nothing else');
    cmp_ok($p->{inflight}, '>', 0, '(g) requests in flight before stop');
    cmp_ok(n($r->{failure}{timeout}), '>=', n($p->{failure}{timeout}) + $p->{inflight},
           '(g) the ones in flight at stop count as timeouts too');
    cmp_ok($took, '<', 2, '(g) stop waits at most about timeout_ms for outstanding requests');
    accounted($r, '(g)');
}

# --- (h) garbage: bad_response -------------------------------------------------------------------
{
    my $lg = start_load(port => $ba->port, path => '/garbage', connections => 4);
    ok(wait_progress($lg, sub { n($_[0]{failed}) >= 10 }), '(h) failures come');
    my $r = $lg->stop;
    note('(h) ' . Load::summary($r));
    is($r->{ok}, 0, '(h) nothing ok');
    is(n($r->{failure}{bad_response}), $r->{failed}, '(h) every failure is bad_response');
    accounted($r, '(h)');
}

# --- (i) stopped at once: still a final report ---------------------------------------------------
{
    my $lg = start_load(port => $ba->port, path => '/id');
    my $r = $lg->stop;
    ok($r->{done}, '(i) stop right after start: a final report');
    is($r->{failed}, 0, '(i) no failure') or diag(Load::summary($r));
    accounted($r, '(i)');
}

# --- (j) -d: stops by itself -------------------------------------------------------------------
{
    my $lg = start_load(port => $ba->port, path => '/id', duration => 0.3);
    my $deadline = time + 5;
    sleep 0.05 while $lg->running && time < $deadline;
    ok(!$lg->running, '(j) exits by itself after the duration');
    my $r = $lg->stop;
    cmp_ok($r->{ok}, '>', 0, '(j) answers');
    is($r->{failed}, 0, '(j) no failure') or diag(Load::summary($r));
    is_deeply($lg->progress, $r, '(j) the report file holds the final report too');
}

# --- (k) the other framings: chunked with trailers, 1xx, close-delimited, no body ----------------
{
    my $pat64 = pattern(64);
    my @cases = (
        # path, what to wait for, expected body key, checks
        ['/chunked/100', 'ok', $pat64, sub { is($_[0]{failed}, 0, "$_[1]: no failure") }],
        ['/info',        'ok', 'final', sub { is($_[0]{failed}, 0, "$_[1]: no failure");
                                              is_deeply([keys %{ $_[0]{status} }], [200], "$_[1]: the 103s are skipped") }],
        ['/close-delimited/100', 'ok', $pat64,
         sub { is($_[0]{failed}, 0, "$_[1]: no failure");
               cmp_ok($_[0]{reconnects}, '>=', $_[0]{ok} - 2, "$_[1]: a reconnect after each") }],
        ['/status/204',  'ok', '-', sub { is($_[0]{failed}, 0, "$_[1]: no failure") }],
        ['/status/304',  'failed', '-',
         sub { is(n($_[0]{failure}{status_304}), $_[0]{failed}, "$_[1]: failures are status_304") }],
        ['/hop',         'ok', 'hop',
         sub { is($_[0]{failed}, 0, "$_[1]: no failure");
               is($_[0]{reconnects}, 0, "$_[1]: Connection: keep-alive, X-Hop keeps the connection") }],
    );
    for my $c (@cases) {
        my ($path, $what, $key, $check) = @$c;
        my $lg = start_load(port => $ba->port, path => $path, connections => 2);
        ok(wait_progress($lg, sub { n($_[0]{$what}) >= 5 }), "(k) $path: responses come")
            or diag(Load::summary($lg->progress));
        my $r = $lg->stop;
        note("(k) $path: " . Load::summary($r));
        my $total = $r->{ok} + n($r->{failure}{status_304});
        is(n($r->{body}{$key}), $total, "(k) $path: body key $key");
        $check->($r, "(k) $path");
        accounted($r, "(k) $path");
    }
}

like(Load::summary({ ok => 3, failed => 2, sent => 5, failure => { reset => 1, status_502 => 1 },
                     status => { 200 => 3, 502 => 1 }, body => { a => 3, '-' => 1 } }),
     qr/^ok=3 failed=2 \(reset=1, status_502=1\) sent=5 .*status\{200=3,502=1\} body\{-=1,a=3\}/,
     'summary');

done_testing();
