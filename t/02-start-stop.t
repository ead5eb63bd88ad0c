#!/usr/bin/perl
# Starting and stopping: foreground master with its workers and titles, pid file, TERM;
# daemon mode with -s stop / -s quit; a second instance refused with "already running".

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use GatewayTest;

# --- foreground --------------------------------------------------------------------------------

{
    my $t = GatewayTest->new;
    my $dir = $t->dir;
    # no `pid:` key: the default is logs/gatewayd.pid under the prefix
    $t->write_conf(<<'EOF');
worker_processes: 2
error_log: logs/error.log
listeners:
  - address: 127.0.0.1:%%http%%
  - address: 127.0.0.1:%%admin%%
    admin: true
routes:
  - name: hello
    match: {path: /hello}
    return: {status: 200, body: "hello from gatewayd\n"}
EOF
    $t->start;
    my $master = $t->pid;
    my $conf = $t->conf;

    like(proc_title($master), qr/^gatewayd: master process \S*gatewayd -F -p \Q$dir\E -c \Q$conf\E$/,
         'master title shows the command line');

    my @w;
    ok(wait_until(sub { @w = $t->workers; @w == 2 }, 5), 'two workers') or diag(explain \@w);
    is(scalar(grep { $_->{title} eq 'gatewayd: worker process (generation 1)' } @w), 2,
       'workers are titled "gatewayd: worker process (generation 1)"') or diag(explain \@w);

    my $r = $t->get('/hello');
    ok($r, 'route answered');
    is($r && $r->{status}, 200, 'route status 200');
    is($r && $r->{body}, "hello from gatewayd\n", 'route body');

    my $pidfile = "$dir/logs/gatewayd.pid";
    ok(-f $pidfile, 'pid file exists at the default path logs/gatewayd.pid');
    is(GatewayTest::slurp($pidfile), "$master\n", 'pid file holds the master pid');

    # -t on the running gateway's own config: its listeners are held by gatewayd itself
    my $tr = $t->run('-t', '-p', $dir, '-c', $conf);
    is($tr->{exit}, 0, '-t succeeds while this gatewayd holds the listeners') or diag($tr->{out});

    like($t->error_log, qr{^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[notice\] $master#0: }m,
         'error log lines have the nginx format');

    my @pids = map { $_->{pid} } @w;
    ok($t->signal('TERM'), 'TERM sent');
    ok($t->wait_exit(5), 'master exits after TERM');
    is($t->exit_status, 0, 'master exit status 0');
    ok(wait_until(sub { !grep { proc_alive($_) } @pids }, 5), 'workers are gone');
    ok(!-e $pidfile, 'pid file removed');
}

# --- daemon mode -------------------------------------------------------------------------------

my $daemon_conf = <<'EOF';
daemon: true
worker_processes: 2
pid: logs/d.pid
error_log: logs/error.log
listeners:
  - address: 127.0.0.1:%%http%%
  - address: 127.0.0.1:%%admin%%
    admin: true
routes:
  - name: hello
    match: {path: /hello}
    return: {status: 200, body: "daemon\n"}
EOF

for my $how ('stop', 'quit') {
    my $t = GatewayTest->new;
    my $dir = $t->dir;
    $t->set_pid_file('logs/d.pid');
    $t->write_conf($daemon_conf);

    my $r = $t->start_daemon;
    is($r->{exit}, 0, "[$how] daemon start command returns with 0") or diag($r->{out});
    ok(!$r->{timed_out}, "[$how] daemon start command returns (does not stay in the foreground)");
    my $master = $t->pid;
    ok($master, "[$how] master pid read from the pid file");
    ok($master && proc_alive($master), "[$how] master alive");
    like(proc_title($master) // '', qr/^gatewayd: master process /, "[$how] master title");
    ok($t->wait_ready(10), "[$how] daemon is ready");
    my @w;
    ok(wait_until(sub { @w = $t->workers; @w == 2 }, 5), "[$how] two workers");
    my $g = $t->get('/hello');
    is($g && $g->{body}, "daemon\n", "[$how] daemon serves the route");

    if ($how eq 'stop') {
        # a second instance with the same pid file is refused
        my $second = $t->run({ timeout => 5 }, '-F', '-p', $dir, '-c', $t->conf);
        is($second->{exit}, 1, 'second instance exits 1');
        like($second->{out}, qr/^gatewayd: \[emerg\] already running \(pid $master\b/m,
             'second instance says "already running (pid N)"');
        is(GatewayTest::read_pid("$dir/logs/d.pid"), $master, 'the pid file still holds the first master');
        ok(proc_alive($master), 'first master still running');
        my $g2 = $t->get('/hello');
        is($g2 && $g2->{status}, 200, 'first instance still serves');
    }

    my @pids = map { $_->{pid} } @w;
    $r = $t->run('-p', $dir, '-c', $t->conf, '-s', $how);
    is($r->{exit}, 0, "[$how] -s $how exits 0") or diag($r->{out});
    ok(wait_until(sub { !proc_alive($master) }, 10), "[$how] master exits after -s $how");
    ok(wait_until(sub { !grep { proc_alive($_) } @pids }, 5), "[$how] workers are gone");
    ok(wait_until(sub { !-e "$dir/logs/d.pid" }, 2), "[$how] pid file removed");
    like($t->error_log, qr/\[notice\]/, "[$how] daemon wrote its error log");
}

done_testing();
