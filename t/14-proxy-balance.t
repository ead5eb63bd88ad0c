#!/usr/bin/perl
# Load balancing: weighted round robin (exact 3:1), least_conn (the idle server wins), random_two
# (every server used), hash on a header (stable, spread), backup servers (only when no primary is
# usable), and weighted `split` between upstreams.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;

my %be;
$be{$_} = Backend->new(name => $_)->start for qw(a b c p1 p2 bk);

my $t = GatewayTest->new;
$t->set_port("be_$_", $be{$_}->port) for keys %be;
$t->write_conf(conf_head(1) . <<'EOF');
upstreams:
  u-rr:
    servers: [{address: 127.0.0.1:%%be_a%%, weight: 3}, {address: 127.0.0.1:%%be_b%%, weight: 1}]
  u-lc:
    balance: least_conn
    servers: [{address: 127.0.0.1:%%be_a%%}, {address: 127.0.0.1:%%be_b%%}]
  u-r2:
    balance: random_two
    servers: [{address: 127.0.0.1:%%be_a%%}, {address: 127.0.0.1:%%be_b%%}, {address: 127.0.0.1:%%be_c%%}]
  u-hash:
    balance: hash
    hash_key: header:x-user-id
    servers: [{address: 127.0.0.1:%%be_a%%}, {address: 127.0.0.1:%%be_b%%}, {address: 127.0.0.1:%%be_c%%}]
  u-bk:
    servers:
      - {address: 127.0.0.1:%%be_p1%%}
      - {address: 127.0.0.1:%%be_p2%%}
      - {address: 127.0.0.1:%%be_bk%%, backup: true}
  u-s1:
    servers: [{address: 127.0.0.1:%%be_a%%}]
  u-s2:
    servers: [{address: 127.0.0.1:%%be_b%%}]
routes:
  - name: rr
    match: {path_prefix: /rr}
    strip_prefix: /rr
    upstream: u-rr
  - name: lc
    match: {path_prefix: /lc}
    strip_prefix: /lc
    upstream: u-lc
  - name: r2
    match: {path_prefix: /r2}
    strip_prefix: /r2
    upstream: u-r2
  - name: hash
    match: {path_prefix: /hash}
    strip_prefix: /hash
    upstream: u-hash
  - name: bk
    match: {path_prefix: /bk}
    strip_prefix: /bk
    upstream: u-bk
  - name: split
    match: {path_prefix: /split}
    strip_prefix: /split
    split: [{upstream: u-s1, weight: 10}, {upstream: u-s2, weight: 90}]
EOF
$t->start;
my $port = $t->port('http');

# $n sequential GETs of $path (with extra headers) on one keep-alive connection; returns the
# list of "status body" (reconnecting if the gateway closed the connection).
sub run_seq {
    my ($path, $n, @h) = @_;
    my @out;
    my $c;
    for (1 .. $n) {
        $c = http_connect($port, timeout => 10) if !$c || $c->is_eof;
        $c->send(build_request('GET', $path, headers => [@h]));
        my $r = $c->read_response;
        push @out, $r ? ($r->{status} == 200 ? $r->{body} : "status $r->{status}") : 'none';
        $c = undef if !$r || lc($r->{headers}{connection} // '') eq 'close';
    }
    return @out;
}

sub tally {
    my %n;
    $n{$_}++ for @_;
    return \%n;
}

# --- weighted round robin -------------------------------------------------------------------------

{
    my $n = tally(run_seq('/rr/id', 40));
    is_deeply($n, { a => 30, b => 10 }, 'round_robin with weights 3:1: exactly 30/10 over 40 requests')
        or diag(explain $n);
}

# --- least_conn ---------------------------------------------------------------------------------

{
    my %before = map { $_ => $be{$_}->count_requests(qr{^/slow-head/}) } qw(a b);
    my $slow = http_connect($port, timeout => 10);
    $slow->send(build_request('GET', '/lc/slow-head/3000'));
    my $busy;
    wait_until(sub {
        for (qw(a b)) { if ($be{$_}->count_requests(qr{^/slow-head/}) > $before{$_}) { $busy = $_; return 1 } }
        return 0;
    }, 5);
    ok($busy, 'least_conn: the slow request reached a server') or diag('busy: none');
    my $idle = ($busy // 'a') eq 'a' ? 'b' : 'a';
    my $n = tally(run_seq('/lc/id', 10));
    is_deeply($n, { $idle => 10 }, "least_conn: with $busy busy, all 10 requests go to the idle $idle")
        or diag(explain $n);
    # a second slow request goes to the idle one too
    my $slow2 = http_connect($port, timeout => 10);
    my $b2 = $be{$idle}->count_requests(qr{^/slow-head/});
    $slow2->send(build_request('GET', '/lc/slow-head/3000'));
    ok(wait_until(sub { $be{$idle}->count_requests(qr{^/slow-head/}) > $b2 }, 5),
       "least_conn: a second slow request goes to $idle");
    $slow->close;
    $slow2->close;
}

# --- random_two ------------------------------------------------------------------------------------

{
    my @got = run_seq('/r2/id', 300);
    my $n = tally(@got);
    is(($n->{a} // 0) + ($n->{b} // 0) + ($n->{c} // 0), 300, 'random_two: 300 answers from the three servers');
    ok(($n->{$_} // 0) >= 30, "random_two: $_ got a fair share (" . ($n->{$_} // 0) . " of 300, expected ~100)")
        for qw(a b c);
}

# --- hash on a header -------------------------------------------------------------------------------

{
    my %first;
    my $same = 1;
    for my $round (1, 2) {
        for my $k (1 .. 50) {
            my ($got) = run_seq('/hash/id', 1, ['X-User-Id', "user-$k"]);
            if ($round == 1) { $first{$k} = $got }
            elsif ($got ne $first{$k}) { $same = 0; diag("user-$k: $first{$k} then $got") }
        }
    }
    ok($same, 'hash header:x-user-id: the same key always goes to the same server');
    my $n = tally(values %first);
    is(scalar(grep { /^[abc]$/ } keys %$n), 3, 'hash: 50 keys spread over all three servers')
        or diag(explain $n);
    # the same key on one connection, many times
    my $n2 = tally(run_seq('/hash/id', 20, ['X-User-Id', 'user-7']));
    is_deeply($n2, { $first{7} => 20 }, 'hash: 20 requests with one key, one server');
}

# --- backup servers ------------------------------------------------------------------------------

{
    my $n = tally(run_seq('/bk/id', 20));
    is_deeply($n, { p1 => 10, p2 => 10 }, 'backup: not used while the primaries are up') or diag(explain $n);

    $be{p1}->stop;
    my @got = run_seq('/bk/id', 20);
    my $n2 = tally(@got);
    my $fail = 20 - ($n2->{p2} // 0);
    ok($fail <= 1, "backup: one primary down: p2 serves (at most the first request fails): @got");
    ok(!$n2->{bk}, 'backup: not used while a primary is usable');

    $be{p2}->stop;
    @got = run_seq('/bk/id', 12);
    is_deeply([@got[2 .. 11]], [('bk') x 10], 'backup: used when no primary is usable') or diag("@got");
    ok((grep { $_ eq 'bk' } @got) >= 11, "backup: at most one failure on the way (@got)");
}

# --- split ------------------------------------------------------------------------------------------

{
    my $n = tally(run_seq('/split/id', 1000));
    is(($n->{a} // 0) + ($n->{b} // 0), 1000, 'split: 1000 answers') or diag(explain $n);
    my $na = $n->{a} // 0;
    ok($na >= 50 && $na <= 200, "split 10/90: u-s1 got $na of 1000 (10% expected, 5%..20% allowed)");
}

done_testing();
