#!/usr/bin/perl
# `systemctl stop` while a binary upgrade drains the old workers, without systemd: what the unit
# makes systemd do is done here by hand. Two masters run (the old one, systemd's $MAINPID, with
# its workers draining after WINCH; the new one, in the pid file), each with a request in flight
# (an upload whose body is half sent). The unit's ExecStop command line, read from
# packaging/gatewayd.service.in, is run; then, once it has returned, the SIGTERM that
# KillMode=mixed sends to what is left. Both requests must complete (200): the stop is graceful
# for both masters, and ExecStop returns only when both are gone.
# Then the same stop at the very start of an upgrade: the new binary runs but is not ready (the
# pid file is renamed to PID.oldbin and not yet written again); `-s quit -w` still reaches both.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(WNOHANG);
use GatewayTest;

my $t = GatewayTest->new;
my $dir = $t->dir;
# Absolute paths: ExecStop runs `gatewayd -s quit -w -c CONF` without -p.
$t->write_conf(<<'EOF');
worker_processes: 1
pid: %%PREFIX%%/logs/gatewayd.pid
error_log: %%PREFIX%%/logs/error.log
shutdown_timeout: 20s
worker_ready_timeout: 5s
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
routes:
  - name: upload
    match: {path: /upload}
    return: {status: 200, body: "stored\n"}
EOF
my $pidfile = $t->pid_file;
my $port = $t->port('http');

# The unit's ExecStop, with the paths of this test.
my $unit = GatewayTest::slurp("$FindBin::Bin/../packaging/gatewayd.service.in") // die "unit file";
my ($exec_stop) = $unit =~ /^ExecStop=(.*)$/m;
ok($exec_stop, 'the unit has an ExecStop') or BAIL_OUT('no ExecStop');
(my $cmd = $exec_stop) =~ s/\@SBIN_PATH\@/$GatewayTest::BINARY/g;
$cmd =~ s/\@CONF_PATH\@/${\ $t->conf}/g;
$cmd =~ s/\@PID_PATH\@/$pidfile/g;
unlike($cmd, qr/\@\w+\@/, "ExecStop has no other placeholder: $exec_stop");

# The server side of connection $c has read everything sent so far (its receive queue in
# /proc/net/tcp is empty): the request is in flight in a worker, not waiting in the kernel.
sub server_read_all {
    my ($c) = @_;
    my $client_port = $c->sock->sockport;
    return wait_until(sub {
        open(my $fh, '<', '/proc/net/tcp') or return 0;
        while (my $line = <$fh>) {
            my @f = split ' ', $line;
            next unless @f > 4 && $f[1] =~ /:([0-9A-F]{4})$/ && hex($1) == $port;
            next unless $f[2] =~ /:([0-9A-F]{4})$/ && hex($1) == $client_port;
            my (undef, $rx) = split /:/, $f[4];
            return hex($rx) == 0;
        }
        return 0;
    }, 5);
}

# A keep-alive connection with one request answered, then an upload with half its body sent.
sub half_upload {
    my ($what) = @_;
    my $c = http_connect($port);
    $c->send("GET /upload HTTP/1.1\r\nHost: x\r\n\r\n");
    my $r = $c->read_response;
    is($r && $r->{status}, 200, "$what: connection accepted and used");
    $c->send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345");
    ok(server_read_all($c), "$what: the half request is in a worker");
    return $c;
}

$t->start;
my $old = $t->pid;
my $a = half_upload('old master');

# The upgrade as `gatewayd -s upgrade` runs it, up to the drain: USR2, new master ready, WINCH.
$t->signal('USR2');
my $new;
ok(wait_until(sub { $new = GatewayTest::read_pid($pidfile); $new && $new != $old && proc_alive($new) }, 10),
   'the new master is ready (pid file)') or BAIL_OUT($t->diagnostics);
ok(-e "$pidfile.oldbin", 'the old master has PID.oldbin');
$t->signal('WINCH');
ok(wait_until(sub { $t->error_log =~ /stopping this master's workers gracefully/ }, 5), 'old workers draining');
my $b = half_upload('new master');
$t->remember;

# systemctl stop: ExecStop (MAINPID is the old master, as systemd has not re-read the pid file).
my $out = "$dir/execstop.out";
my $stopper = fork // die "fork: $!";
if ($stopper == 0) {
    $ENV{MAINPID} = $old;
    open STDOUT, '>', $out; open STDERR, '>&', \*STDOUT;
    exec '/bin/sh', '-c', $cmd or POSIX::_exit(127);
}
my $stop_status;
my $stopper_done = sub {
    return 1 if defined $stop_status;
    return 0 unless waitpid($stopper, WNOHANG) == $stopper;
    $stop_status = $?;
    return 1;
};
ok(wait_until(sub { my @q = $t->error_log =~ /SIGQUIT received/g; @q >= 2 }, 5),
   'both masters received SIGQUIT') or diag($t->error_log);

# The old master's request completes; the old master exits; ExecStop keeps waiting for the new one.
$a->send('67890');
my $r = $a->read_response;
is($r && $r->{status}, 200, "old master's in-flight request completes");
ok($t->wait_exit(10), 'the old master exits');
ok(proc_alive($new), 'the new master still finishes its request');
ok(!$stopper_done->(), 'ExecStop is still waiting (systemd would signal what is left once it returns)');

$b->send('67890');
$r = $b->read_response;
is($r && $r->{status}, 200, "new master's in-flight request completes (not cut by SIGTERM)");
is($r && $r->{body}, "stored\n", '... with its body');
ok(wait_until($stopper_done, 10), 'ExecStop returns') or kill 'KILL', $stopper;
is($stop_status, 0, 'ExecStop exit status 0') or diag(GatewayTest::slurp($out));
ok(!proc_alive($new), 'the new master has exited');
ok(!-e $pidfile && !-e "$pidfile.oldbin", 'no pid file left');
# KillMode=mixed: SIGTERM to the main process -- there is none left.
ok(!grep({ proc_alive($_) && GatewayTest::proc_is_gatewayd($_) } $old, $new), 'nothing left for SIGTERM');
like($t->error_log, qr/SIGQUIT received/, 'QUIT, a graceful stop');
unlike($t->error_log, qr/SIGTERM received/, 'no master received SIGTERM');

$t->stop;

# --- a stop while the new master is not ready yet ----------------------------------------------

{
    my $u = GatewayTest->new;
    my $udir = $u->dir;
    $u->write_conf(<<'EOF');
worker_processes: 1
pid: %%PREFIX%%/logs/gatewayd.pid
error_log: %%PREFIX%%/logs/error.log
shutdown_timeout: 5s
worker_ready_timeout: 30s
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
routes:
  - {name: ok, return: {status: 200}}
EOF
    mkdir "$udir/sbin" or die "mkdir: $!";
    my $exe = "$udir/sbin/gatewayd";
    require File::Copy;
    File::Copy::copy($GatewayTest::BINARY, $exe) or die "copy: $!";
    chmod 0755, $exe;
    $u->start(binary => $exe, args => ['-F', '-c', $u->conf]);
    my $master = $u->pid;
    # The "new binary": starts, never becomes ready, and notes the signal that ends it. (The old
    # master's signals arrive blocked across exec; it unblocks the two it waits for.)
    GatewayTest::spew("$exe.new", <<"EOF");
#!$^X
use POSIX ();
open(my \$log, '>>', '$udir/new.log') or die;
\$log->autoflush(1);
\$SIG{QUIT} = sub { print \$log "QUIT\\n"; exit 0 };
\$SIG{TERM} = sub { print \$log "TERM\\n"; exit 0 };
POSIX::sigprocmask(POSIX::SIG_UNBLOCK(), POSIX::SigSet->new(POSIX::SIGQUIT(), POSIX::SIGTERM()));
print \$log "started\\n";
sleep 1 while 1;
EOF
    chmod 0755, "$exe.new";
    rename "$exe.new", $exe or die "rename: $!";
    my $upid = $u->pid_file;
    $u->signal('USR2');
    ok(wait_until(sub { (GatewayTest::slurp("$udir/new.log") // '') =~ /started/ }, 10),
       'the new binary runs, not ready') or diag($u->diagnostics);
    ok(!-e $upid && -e "$upid.oldbin", 'the pid file is PID.oldbin only');
    $u->remember;
    my $r = $u->run({ timeout => 20 }, '-c', $u->conf, '-s', 'quit', '-w');
    is($r->{exit}, 0, '-s quit -w during the start of an upgrade exits 0') or diag($r->{out});
    is(GatewayTest::slurp("$udir/new.log"), "started\nQUIT\n", 'the new master got SIGQUIT');
    ok(!$u->alive, 'the old master has exited');
    unlike($u->error_log, qr/SIGTERM received/, 'no SIGTERM');
    $u->stop;
}

done_testing();
