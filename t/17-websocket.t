#!/usr/bin/perl
# WebSocket through the proxy: the upgrade handshake (101 forwarded), text / binary / large /
# control frames both ways, several tunnels at once, close, the tunnel idle timeout, and a
# non-101 answer to an upgrade request as a normal response.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;

my $be = Backend->new(name => 'a')->start;
my $t = GatewayTest->new;
$t->set_port('be_a', $be->port);
$t->write_conf(conf_head(1) . <<'EOF');
upstreams:
  main:
    servers: [{address: 127.0.0.1:%%be_a%%}]
routes:
  - name: ws
    match: {path_prefix: /ws}
    upstream: main
  - name: short
    match: {path_prefix: /short}
    strip_prefix: /short
    upstream: main
    timeout: {tunnel: 500ms}
  - name: plain
    match: {path_prefix: /}
    upstream: main
EOF
$t->start;
my $port = $t->port('http');

sub open_ws {
    my ($path) = @_;
    my $c = http_connect($port, timeout => 5) or return;
    my $r = ws_handshake($c, $path);
    return ($c, $r);
}

# --- handshake and echo -----------------------------------------------------------------------

{
    my ($c, $r) = open_ws('/ws');
    is($r && $r->{status}, 101, 'upgrade: 101 forwarded') or diag($r ? $r->{head} : 'no response');
    is(lc($r && $r->{headers}{upgrade} // ''), 'websocket', 'upgrade: websocket');
    like(lc($r && $r->{headers}{connection} // ''), qr/\bupgrade\b/, 'connection: upgrade');
    is($r && $r->{headers}{'sec-websocket-accept'}, $r && $r->{expected_accept}, 'sec-websocket-accept from the backend');

    ws_send($c, 1, 'hello, tunnel');
    my $f = ws_recv($c);
    is_deeply($f && [$f->[0], $f->[1], $f->[2]], [1, 'hello, tunnel', 0], 'text frame echoed (server frames unmasked)');

    my $bin = join '', map { chr } 0 .. 255;
    ws_send($c, 2, $bin x 4);
    $f = ws_recv($c);
    ok($f && $f->[0] == 2 && $f->[1] eq $bin x 4, 'binary frame with every byte value echoed');

    my $big = pattern(200_000);
    ws_send($c, 2, $big);
    $f = ws_recv($c, 10);
    ok($f && $f->[0] == 2 && $f->[1] eq $big, 'a 200 KB frame echoed');

    ws_send($c, 9, 'ping-data');
    $f = ws_recv($c);
    is_deeply($f && [$f->[0], $f->[1]], [10, 'ping-data'], 'ping -> pong');

    # several frames in one write
    $c->send(join '', map { Backend::ws_frame(1, "m$_", 1) } 1 .. 5);
    my @m = map { my $x = ws_recv($c); $x ? $x->[1] : 'none' } 1 .. 5;
    is_deeply(\@m, [map { "m$_" } 1 .. 5], 'five frames in one write, five echoes in order');

    ws_send($c, 8, pack('n', 1000) . 'bye');
    $f = ws_recv($c);
    is($f && $f->[0], 8, 'close echoed');
    my ($closed) = $c->wait_closed(3);
    ok($closed, 'the tunnel is closed after the upstream closes');
}

# --- concurrent tunnels --------------------------------------------------------------------------

{
    my @ws;
    for my $i (1 .. 6) {
        my ($c, $r) = open_ws('/ws');
        push @ws, $c if $r && $r->{status} == 101;
    }
    is(scalar @ws, 6, 'six tunnels open at once');
    for my $round (1 .. 3) {
        ws_send($ws[$_], 1, "tunnel $_ round $round") for 0 .. $#ws;
        my @got = map { my $f = ws_recv($ws[$_]); $f ? $f->[1] : 'none' } 0 .. $#ws;
        is_deeply(\@got, [map { "tunnel $_ round $round" } 0 .. $#ws], "round $round: each tunnel echoes its own frames");
    }
    my $r = http_request($port, build_request('GET', '/id'));
    is($r && $r->{body}, 'a', 'plain requests served while tunnels are open');
    $_->close for @ws;
}

# --- tunnel idle timeout -----------------------------------------------------------------------

{
    my ($c, $r) = open_ws('/short/ws');
    is($r && $r->{status}, 101, 'tunnel with timeout.tunnel 500ms: 101');
    # traffic keeps it open past the timeout
    my $alive = 1;
    for my $i (1 .. 6) {
        ws_send($c, 1, "keep $i");
        my $f = ws_recv($c, 2);
        $alive = 0 unless $f && $f->[1] eq "keep $i";
        sleep 0.2;
    }
    ok($alive, 'a tunnel with traffic every 200ms stays open for 1.2 s');
    my $t0 = time;
    my ($closed) = $c->wait_closed(5);
    my $dt = time - $t0;
    ok($closed, 'an idle tunnel is closed');
    ok($dt >= 0.25 && $dt < 3, sprintf('after about timeout.tunnel (500ms): %.2fs', $dt));
}

# --- non-101 answer ---------------------------------------------------------------------------------

{
    my ($c, $r) = open_ws('/ws?reject=1');
    is($r && $r->{status}, 403, 'upgrade refused by the upstream: its 403 is passed');
    is($r && $r->{body}, 'no upgrade', 'with its body');
    ok($r && !exists $r->{headers}{upgrade}, 'no upgrade header on it');
    $c->send(build_request('GET', '/id'));
    my $r2 = $c->read_response;
    is($r2 && $r2->{body}, 'a', 'the connection then serves a normal request');
}

done_testing();
