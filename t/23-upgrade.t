#!/usr/bin/perl
# Binary upgrade (USR2, WINCH, QUIT; HUP to roll back) and `gatewayd -s upgrade`.
#
# The gateway runs from a copy of the binary under test in its prefix (sbin/gatewayd), so that
# the test can "rebuild" it: a new file renamed over the old one, as `make install` or a package
# manager does. The running master then execs the new file; the old one shows as "(deleted)"
# in /proc/PID/exe.
#
#   1. `gatewayd -s upgrade` under 50 keep-alive connections of load: 0 failed requests; the
#      new master runs the new file; the request counter in shared memory goes on from its
#      value (it equals every 200 the clients saw, old and new workers alike); generation
#      numbers go on; the pid file names the new master and .oldbin is gone.
#   2. USR2 then HUP to the old master: rolled back, the new master quits.
#   3. USR2, WINCH, then HUP: the old master's workers come back, the new master quits.
#   4. A new binary that cannot start: `-s upgrade` fails (exit 1), the old master carries on
#      with its pid file restored.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Copy qw(copy);
use Time::HiRes qw(time sleep);
use GatewayTest;
use Load;

my $t = GatewayTest->new;
my $dir = $t->dir;
my $bin = eval { Load::build($dir) } or plan skip_all => "cannot build t/helpers/loadgen.c: $@";

mkdir "$dir/sbin" or die "mkdir: $!";
my $exe = "$dir/sbin/gatewayd";

# "Rebuilds" the binary: a fresh copy of $src renamed over sbin/gatewayd (a new inode).
sub install_binary {
    my ($src) = @_;
    copy($src, "$exe.new") or die "copy: $!";
    chmod 0755, "$exe.new";
    rename "$exe.new", $exe or die "rename: $!";
    return (stat $exe)[1];
}

$t->write_conf(<<'EOF');
worker_processes: 2
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
shutdown_timeout: 5s
worker_ready_timeout: 5s
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
routes:
  - name: body
    match: {path_prefix: /}
    return: {status: 200, body: "upgraded"}
EOF

my $pidfile = $t->pid_file;
my $oldbin = "$pidfile.oldbin";

sub route_count { metric_sum($t->metrics // {}, 'gateway_http_requests_total', { route => 'body', code => '200' }) // 0 }
sub upgrades    { metric_sum($t->metrics // {}, 'gateway_binary_upgrades_total', { result => $_[0] }) // 0 }
sub generation  { my $s = $t->status_json; $s ? $s->{generation} : 0 }
sub exe_of      { readlink("/proc/$_[0]/exe") // '' }
sub pid_in      { GatewayTest::read_pid($_[0]) // 0 }
# Worker children only: during an upgrade the new master is a child of the old one too.
sub workers_of  { grep { $_->{title} =~ /worker process/ } worker_pids($_[0]) }
sub upgrade_cmd { $t->run({ timeout => 40, binary => $exe }, '-p', $dir, '-c', $t->conf, '-s', 'upgrade') }

install_binary($GatewayTest::BINARY);
$t->start(binary => $exe, args => ['-F', '-p', $dir, '-c', $t->conf]);
my $first = $t->pid;
is(pid_in($pidfile), $first, 'pid file names the first master');

# --- 1. gatewayd -s upgrade under load --------------------------------------------------------

my $own = 0;    # our own requests on the route (not counted by loadgen)
is($t->get('/')->{body}, 'upgraded', 'serving'); $own++;
my $before = route_count();
is($before, $own, 'request counter before the upgrade');
my $gen_before = generation();

my $lg = Load->start(bin => $bin, port => $t->port('http'), connections => 50, dir => $dir);
ok($lg->wait_ok(500, 10), 'load flowing') or diag(Load::summary($lg->progress));

my $inode = install_binary($GatewayTest::BINARY);
my $r = upgrade_cmd();
is($r->{exit}, 0, 'gatewayd -s upgrade exits 0') or diag($r->{out});
like($r->{out}, qr/\[1\/4\].*\[2\/4\].*\[3\/4\].*\[4\/4\].*done: master (\d+) serves/s, 'each step printed');
my ($second) = $r->{out} =~ /done: master (\d+) serves/;
$second //= 0;

isnt($second, $first, "a new master: $second");
is(pid_in($pidfile), $second, 'the pid file names the new master');
ok(!-e $oldbin, 'no .oldbin left');
ok(!proc_alive($first), 'the old master has exited');
$t->wait_exit(5);    # reap it (it was our child)
$t->adopt_master($second);
is((stat("/proc/$second/exe"))[1], $inode, 'the new master runs the newly installed file');
unlike(exe_of($second), qr/\(deleted\)/, '... which is not deleted');
my @w = workers_of($second);
is(scalar @w, 2, 'the new master has 2 workers');

my $mid = $lg->progress;
ok($lg->wait_ok(($mid->{ok} // 0) + 500, 10), 'load still flows after the upgrade');
my $res = $lg->stop;
is($res->{failed}, 0, 'no request failed across the binary upgrade') or diag(Load::summary($res));
ok($res->{ok} > 1000, "requests answered: $res->{ok}");

is(route_count(), $before + $res->{ok}, 'the request counter went on across the upgrade: before + every 200 served');
is(upgrades('ok'), 1, 'gateway_binary_upgrades_total{result="ok"} 1');
ok(generation() > $gen_before, 'the generation number went on (' . generation() . " > $gen_before)");
like($t->error_log, qr/zone "metrics" adopted from the previous binary/, 'metrics zone adopted');

# --- 2. USR2, then HUP to the old master: rollback --------------------------------------------

sub usr2 {
    my ($master) = @_;
    kill 'USR2', $master;
    my $new;
    ok(wait_until(sub { $new = pid_in($pidfile); $new && $new != $master && proc_alive($new) }, 10),
       "USR2 to $master: a new master is ready and owns the pid file")
        or return 0;
    is(pid_in($oldbin), $master, '.oldbin names the old master');
    return $new;
}

my $third = usr2($second);
ok($t->get('/'), 'served while both masters run');
kill 'HUP', $second;
ok(wait_until(sub { !proc_alive($third) }, 10), 'HUP to the old master: the new master quits');
is(pid_in($pidfile), $second, 'pid file restored to the old master');
ok(!-e $oldbin, '.oldbin gone');
is($t->get('/')->{body}, 'upgraded', 'the old master serves on');
is(upgrades('rolled_back'), 1, 'counted as rolled back');

# --- 3. USR2, WINCH, then HUP: the old workers come back ---------------------------------------

my $fourth = usr2($second);
kill 'WINCH', $second;
ok(wait_until(sub { !workers_of($second) }, 10), 'WINCH: the old master has no workers left');
ok(proc_alive($second), '... and stays');
is($t->get('/')->{body}, 'upgraded', 'the new master serves alone');
kill 'HUP', $second;
ok(wait_until(sub { my @x = workers_of($second); @x == 2 }, 10), 'HUP: the old master starts its workers again');
ok(wait_until(sub { !proc_alive($fourth) }, 10), 'the new master is told to quit once they are ready');
is(pid_in($pidfile), $second, 'pid file restored');
is($t->get('/')->{body}, 'upgraded', 'served by the old master again');

# --- 4. a new binary that cannot start ----------------------------------------------------------

my $good = "$dir/sbin/gatewayd.good";
copy($exe, $good) or die "copy: $!";
chmod 0755, $good;
spew("$exe.new", "#!/bin/sh\necho 'broken build' >&2\nexit 1\n");
chmod 0755, "$exe.new";
rename "$exe.new", $exe or die "rename: $!";
my $failed_before = upgrades('failed');
$r = $t->run({ timeout => 40, binary => $good }, '-p', $dir, '-c', $t->conf, '-s', 'upgrade');
is($r->{exit}, 1, '-s upgrade with a broken binary exits 1') or diag($r->{out});
like($r->{out}, qr/did not start.*master $second carries on/s, 'and says the old master carries on');
is(pid_in($pidfile), $second, 'pid file still names the old master');
ok(!-e $oldbin, 'no .oldbin left');
is($t->get('/')->{body}, 'upgraded', 'still serving');
is(upgrades('failed'), $failed_before + 1, 'counted as failed');
like($t->error_log, qr/new master process \d+ exited with code 1/, 'the failure is logged');

$t->stop;
done_testing();
