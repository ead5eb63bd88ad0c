#!/usr/bin/perl
# Reload (HUP): a new body is served, the generation goes up, old workers drain and exit;
# a broken file is refused (old config still served, errors logged with file and line).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use GatewayTest;

my $t = GatewayTest->new;
my $conf = $t->conf;

sub config {
    my ($body, $broken) = @_;
    my $c = <<"EOF";
worker_processes: 2
pid: logs/gatewayd.pid
error_log: logs/error.log
shutdown_timeout: 10s
listeners:
  - address: 127.0.0.1:%%http%%
  - address: 127.0.0.1:%%admin%%
    admin: true
routes:
  - name: hello
    match: {path: /hello}
    return: {status: 200, body: "$body"}
EOF
    # the unknown key lands on line 13
    $c .= "unknown_reload_key: 1\n" if $broken;
    return $c;
}

sub body { my $r = $t->get('/hello'); $r ? $r->{body} : '' }

sub generation_status { my $s = $t->status_json; $s ? $s->{generation} : undef }

sub gauge {
    my ($name, $labels) = @_;
    my $m = $t->metrics or return undef;
    return metric_sum($m, $name, $labels);
}

# Reloads and measures how long until $want is served on fresh connections.
sub reload_to {
    my ($want) = @_;
    my $t0 = time;
    $t->signal('HUP');
    my $ok = wait_until(sub { body() eq $want }, 10, 0.01);
    return $ok ? time - $t0 : undef;
}

$t->write_conf(config('v1'));
$t->start;
my $master = $t->pid;

is(body(), 'v1', 'generation 1 serves v1');
is(generation_status(), 1, '/status generation 1');
is(gauge('gateway_config_generation'), 1, 'gateway_config_generation 1');
my @w1;
ok(wait_until(sub { @w1 = $t->workers; @w1 == 2 }, 5), 'two generation-1 workers');

# a keep-alive connection held open across the reload, to a generation-1 worker
my $held = http_connect($t->port('http'));
$held->send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
my $hr = $held->read_response;
is($hr && $hr->{body}, 'v1', 'held connection served by generation 1');

# --- good reload ---------------------------------------------------------------------------------

$t->write_conf(config('v2'));
my $took = reload_to('v2');
ok(defined $took, 'after HUP the new body is served');
ok(defined $took && $took < 1.0, 'new body served within 1s of HUP')
    or diag('took ' . ($took // 'forever'));
# The new body can be served a moment before the last new worker is ready and the
# generation is committed: wait for the commit.
ok(wait_until(sub { (generation_status() // 0) == 2 }, 2), '/status generation 2') or diag('generation ' . (generation_status() // 'none'));
is(gauge('gateway_config_generation'), 2, 'gateway_config_generation 2');
is(gauge('gateway_config_reloads_total', { result => 'ok' }), 1, 'reloads_total{result="ok"} 1');
is(GatewayTest::slurp("$conf") =~ /v2/ ? 1 : 0, 1, 'config file has v2');
is($t->pid, $master, 'same master');
ok(proc_alive($master), 'master alive');

my $st = $t->status_json;
is(scalar(grep { $_->{generation} == 2 && $_->{state} eq 'ready' } @{ $st->{workers} || [] }), 2,
   '/status lists two ready generation-2 workers') or diag(explain $st);

# The worker holding the keep-alive connection drains: it is titled "draining" until the
# connection's next request is answered with connection: close.
ok(wait_until(sub { grep { $_->{title} eq 'gatewayd: worker process (generation 1, draining)' } $t->workers }, 5),
   'a generation-1 worker is draining while it holds a connection')
    or diag(explain [$t->workers]);
$held->send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
$hr = $held->read_response;
is($hr && $hr->{status}, 200, 'held connection: next request answered');
is($hr && $hr->{body}, 'v1', 'held connection: answered by the old generation');
is($hr && lc($hr->{headers}{connection} // ''), 'close', 'held connection: connection: close');
my ($closed) = $held->wait_closed(5);
ok($closed, 'held connection closed by the draining worker');

my @w2;
ok(wait_until(sub {
    @w2 = $t->workers;
    @w2 == 2 && !grep { $_->{title} ne 'gatewayd: worker process (generation 2)' } @w2
}, 5), 'old-generation workers exited; two generation-2 workers remain') or diag(explain \@w2);
my %old = map { $_->{pid} => 1 } @w1;
ok(!grep({ $old{ $_->{pid} } } @w2), 'generation-2 workers are new processes');
ok(!grep({ proc_alive($_) } keys %old), 'generation-1 worker processes are gone');

# --- broken reload -------------------------------------------------------------------------------

$t->write_conf(config('v3-broken', 1));
$t->signal('HUP');
ok(wait_until(sub { $t->error_log =~ /\[alert\] \d+#\d+: reload failed, still serving configuration generation 2/ }, 5),
   'error log: reload failed, still serving configuration generation 2');
like($t->error_log, qr/\[emerg\] \d+#\d+: \Q$conf\E:13:1: .*unknown_reload_key/,
     'error log names the file, line and key');
ok(proc_alive($master), 'master alive after a failed reload');
is(body(), 'v2', 'old body still served');
is(generation_status(), 2, '/status generation still 2');
is(gauge('gateway_config_generation'), 2, 'gateway_config_generation still 2');
is(gauge('gateway_config_reloads_total', { result => 'failed' }), 1, 'reloads_total{result="failed"} 1');
is(gauge('gateway_config_reloads_total', { result => 'ok' }), 1, 'reloads_total{result="ok"} still 1');
my @w3 = $t->workers;
is_deeply([map { $_->{pid} } @w3], [map { $_->{pid} } @w2], 'workers unchanged by the failed reload');

# --- fixed again ---------------------------------------------------------------------------------

$t->write_conf(config('v3'));
$took = reload_to('v3');
ok(defined $took, 'after the fix, HUP serves the new body');
ok(defined $took && $took < 1.0, 'within 1s') or diag('took ' . ($took // 'forever'));
# The new body can be served a moment before the last new worker is ready and the
# generation is committed: wait for the commit.
ok(wait_until(sub { (generation_status() // 0) == 3 }, 2), '/status generation 3') or diag('generation ' . (generation_status() // 'none'));
is(gauge('gateway_config_generation'), 3, 'gateway_config_generation 3');
is(gauge('gateway_config_reloads_total', { result => 'ok' }), 2, 'reloads_total{result="ok"} 2');
ok(wait_until(sub {
    my @w = $t->workers;
    @w == 2 && !grep { $_->{title} ne 'gatewayd: worker process (generation 3)' } @w
}, 5), 'only generation-3 workers remain') or diag(explain [$t->workers]);

# --- the same through the command line: gatewayd -s reload ----------------------------------------

$t->write_conf(config('v4'));
my $sr = $t->run('-p', $t->dir, '-c', $conf, '-s', 'reload');
is($sr->{exit}, 0, '-s reload exits 0') or diag($sr->{out});
ok(wait_until(sub { body() eq 'v4' }, 5), '-s reload: the new body is served');
# the new body can be served a moment before the last new worker is ready: wait for the commit
ok(wait_until(sub { (generation_status() // 0) == 4 }, 5), '-s reload: /status generation 4');
is($t->pid, $master, 'same master throughout');

done_testing();
