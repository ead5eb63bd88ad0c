#!/usr/bin/perl
# Reloads that go wrong, or that pile up, must not cost a request:
#   1. a new listener that cannot bind: the reload fails, the old generation serves on (under
#      load: 0 failed requests), the failure is logged and counted;
#   2. new workers that never become ready (their access log is a FIFO nobody reads, so they
#      block opening it): rolled back at worker_ready_timeout, old generation untouched (under
#      load: 0 failed); a HUP sent meanwhile is queued — run once, after the rollback, with the
#      file as it is then;
#   3. a WebSocket tunnel opened before a reload still echoes after it, and is closed cleanly
#      (FIN, not reset) at shutdown_timeout;
#   4. 100 reloads in a row, each leaving an idle keep-alive connection on the old generation:
#      at most max_draining_generations old generations remain, master memory stays bounded.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use POSIX qw(mkfifo);
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;
use Load;

my $be = Backend->new(name => 'ws')->start;
my $t = GatewayTest->new;
my $dir = $t->dir;
my $bin = eval { Load::build($dir) } or plan skip_all => "cannot build t/helpers/loadgen.c: $@";
$t->set_port('be', $be->port);

sub config {
    my (%o) = @_;
    my $body = $o{body} // 'one';
    my $c = "worker_processes: " . ($o{workers} // 2) . "\n" . <<"EOF";
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
shutdown_timeout: @{[ $o{shutdown} // '10s' ]}
worker_ready_timeout: 2s
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
EOF
    $c .= "  - address: 127.0.0.1:%%taken%%\n" if $o{taken};
    $c .= "access_log: {path: $o{access_log}}\n" if $o{access_log};
    $c .= <<"EOF";
upstreams:
  ws: {servers: [{address: 127.0.0.1:%%be%%}]}
routes:
  - name: ws
    match: {path_prefix: /ws}
    upstream: ws
  - name: body
    match: {path_prefix: /}
    return: {status: 200, body: "$body"}
EOF
    return $c;
}

sub generation { my $s = $t->status_json; $s ? $s->{generation} : 0 }
sub reloads    { metric_sum($t->metrics // {}, 'gateway_config_reloads_total', { result => $_[0] }) // 0 }
sub body       { my $r = $t->get('/'); $r ? $r->{body} : '' }

$t->write_conf(config(body => 'one'));
$t->start;

# --- 1. a listener that cannot bind --------------------------------------------------------------
{
    # a port held by another program (no SO_REUSEPORT): gatewayd cannot bind it
    my $holder = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1, Proto => 'tcp')
        or die "listen: $!";
    $t->set_port('taken', $holder->sockport);
    my $lg = Load->start(bin => $bin, port => $t->port('http'), connections => 50, dir => $dir);
    ok($lg->wait_ok(300, 10), 'load flowing');
    my $gen = generation();
    my $failed = reloads('failed');
    $t->write_conf(config(body => 'two', taken => 1));
    $t->signal('HUP');
    ok(wait_until(sub { reloads('failed') > $failed }, 10), 'the reload fails');
    like($t->error_log, qr/cannot bind listener 127\.0\.0\.1:\d+.*\n.*reload failed, still serving configuration generation $gen/,
         'logged: which listener, and that the old generation serves on');
    my $p = $lg->progress;
    ok($lg->wait_ok($p->{ok} + 300, 10), 'load still flows');
    my $r = $lg->stop;
    is($r->{failed}, 0, 'no request failed') or diag(Load::summary($r));
    is_deeply([keys %{ $r->{body} }], ['one'], 'only the old body was served');
    is(generation(), $gen, 'generation unchanged');
}

# --- 2. new workers never ready: rollback, and a HUP queued meanwhile ----------------------------
{
    my $fifo = "$dir/logs/blocked.fifo";
    mkfifo($fifo, 0644) or die "mkfifo: $!";
    my $lg = Load->start(bin => $bin, port => $t->port('http'), connections => 50, dir => $dir);
    ok($lg->wait_ok(300, 10), 'load flowing');
    my $gen = generation();
    my $failed = reloads('failed');
    $t->write_conf(config(body => 'blocked', access_log => $fifo));
    my $t0 = time;
    $t->signal('HUP');
    ok(wait_until(sub { $t->error_log =~ /started worker process \d+ \(slot 1, generation @{[$gen + 1]}\)/ }, 5),
       'the reload started its workers');
    # while it waits for them: a good config and another HUP
    $t->write_conf(config(body => 'three'));
    $t->signal('HUP');
    ok(wait_until(sub { $t->error_log =~ /a reload is in progress; this one is queued/ }, 5), 'the second HUP is queued');
    is(body(), 'one', 'the old generation serves while the new one is not ready');
    ok(wait_until(sub { reloads('failed') > $failed }, 10), 'the blocked reload is rolled back');
    my $took = time - $t0;
    ok($took >= 1.9 && $took < 6, sprintf('... at worker_ready_timeout (2 s): %.1f s', $took));
    like($t->error_log, qr/reload rolled back \(workers not ready within worker_ready_timeout\): generation $gen stays/,
         'rollback logged');
    ok(wait_until(sub { body() eq 'three' }, 10), 'the queued reload ran after the rollback, with the file as it is now');
    ok(wait_until(sub { generation() == $gen + 2 }, 5), 'generation ' . ($gen + 2) . ': one rolled back, one committed');
    my $p = $lg->progress;
    ok($lg->wait_ok($p->{ok} + 300, 10), 'load still flows');
    my $r = $lg->stop;
    is($r->{failed}, 0, 'no request failed through the rollback') or diag(Load::summary($r));
    ok(!exists $r->{body}{blocked}, 'the rolled-back generation never answered');
    my @blocked = grep { $_->{title} =~ /generation @{[$gen + 1]}/ } $t->workers;
    is(scalar @blocked, 0, 'its workers are gone');
    ok(wait_until(sub { my @w = $t->workers; @w == 2 }, 15), 'old generation drained: 2 workers');
}

# --- 3. a WebSocket tunnel across a reload, closed cleanly at shutdown_timeout ------------------
{
    $t->write_conf(config(body => 'four', shutdown => '2s'));
    $t->signal('HUP');
    ok(wait_until(sub { body() eq 'four' }, 10), 'reloaded with shutdown_timeout 2s');
    my $gen = generation();
    ok(wait_until(sub { my @w = $t->workers; @w == 2 }, 15), 'settled');

    my $c = http_connect($t->port('http'), timeout => 5);
    my $h = ws_handshake($c, '/ws');
    is($h && $h->{status}, 101, 'tunnel open');
    ws_send($c, 1, 'before');
    my $f = ws_recv($c);
    is($f && $f->[1], 'before', 'echo before the reload');

    $t->write_conf(config(body => 'five', shutdown => '2s'));
    my $t0 = time;
    $t->signal('HUP');
    ok(wait_until(sub { body() eq 'five' }, 10), 'reloaded');
    ws_send($c, 1, 'after');
    $f = ws_recv($c);
    is($f && $f->[1], 'after', 'the tunnel still echoes after the reload (its worker is draining)');
    ok(wait_until(sub { grep { $_->{title} =~ /draining/ } $t->workers }, 5), 'an old worker is draining, holding it');
    my ($closed) = $c->wait_closed(6);
    my $at = time - $t0;
    ok($c->is_eof, sprintf('the tunnel is closed at shutdown_timeout (%.1f s after the reload)', $at));
    ok(!$c->{reset}, 'closed cleanly: FIN, not a reset') or diag($c->error);
    ok($at >= 1.8 && $at < 5, 'closed at about shutdown_timeout 2s');
    like($t->error_log, qr/shutdown_timeout reached, closing 1 connections/, 'logged by the old worker');
}

# --- 4. 100 reloads, each leaving an idle keep-alive connection on the old generation -------------
{
    $t->write_conf(config(body => 'pile', workers => 1, shutdown => '60s'));
    $t->signal('HUP');
    ok(wait_until(sub { body() eq 'pile' }, 10), 'one worker per generation, shutdown_timeout 60s');
    ok(wait_until(sub { my @w = $t->workers; @w == 1 }, 15), 'settled');
    my $rss = sub { (slurp("/proc/" . $t->pid . "/status") // '') =~ /VmRSS:\s+(\d+)/ ? $1 : 0 };
    my $gen = generation();
    my (@held, $rss10);
    my $max_workers = 0;
    for my $i (1 .. 100) {
        my $c = http_connect($t->port('http'), timeout => 5);
        $c->send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        my $r = $c->read_response;
        push @held, $c if $r && $r->{status} == 200;    # now idle, kept alive, on the current worker
        $t->signal('HUP');
        wait_until(sub { generation() >= $gen + $i }, 10, 0.005) or last;
        my $n = () = $t->workers;
        $max_workers = $n if $n > $max_workers;
        $rss10 = $rss->() if $i == 10;
    }
    is(generation(), $gen + 100, '100 reloads committed');
    is(scalar @held, 100, '100 idle keep-alive connections were opened, one per generation');
    # 1 current worker + max_draining_generations (2) draining; a retired one exits at once
    ok(wait_until(sub { my @w = $t->workers; @w <= 3 }, 10), 'at most 1 + max_draining_generations (2) workers left')
        or diag(join "\n", map { "$_->{pid} $_->{title}" } $t->workers);
    ok($max_workers <= 6, "never more than a few workers at once during the reloads (max $max_workers)");
    my $closed = grep { my ($x) = $_->wait_closed(0.05); $_->is_eof } @held;
    ok($closed >= 97, "idle connections of retired generations were closed: $closed of 100");
    my $retired = metric_sum($t->metrics, 'gateway_generations_retired_total') // 0;
    ok($retired >= 97, "gateway_generations_retired_total $retired");
    my $grow = $rss->() - $rss10;
    ok($grow < 4096, "master RSS grew by $grow kB from reload 10 to reload 100 (bound 4 MiB)");
    like($t->error_log, qr/retiring generation \d+/, 'retiring logged');
}

$t->stop;
done_testing();
