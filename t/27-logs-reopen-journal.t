#!/usr/bin/perl
# The error log as a service sees it (issue 11, section 6), with a daemon started from a copy of
# the binary under test in its prefix (as t/23-upgrade.t does):
#   1. log files created at start are rw-r----- (0640): with umask 0, the mode is the open's own;
#   2. after a rotation and USR1, the daemon's stderr is the new error.log: the reason a new
#      binary gives on stderr for not starting (a failed upgrade) lands there, not in error.log.1;
#   3. an upgrade after a rotation: the new master holds no leaked error-log descriptor (only
#      fd 2 and its own log descriptor point at the log);
#   4. alerts (a failed upgrade, a crashed worker, a failed reload) reach the journal: with
#      GATEWAYD_JOURNAL_SOCKET naming a datagram socket that this test binds, each arrives as a
#      native journal message (PRIORITY=1, SYSLOG_IDENTIFIER=gatewayd); notices do not.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Copy qw(copy);
use IO::Socket::UNIX;
use Socket qw(SOCK_DGRAM);
use GatewayTest;

my $t = GatewayTest->new;
my $dir = $t->dir;
mkdir "$dir/sbin" or die "mkdir: $!";
my $exe = "$dir/sbin/gatewayd";
my $good = "$dir/sbin/gatewayd.good";
copy($GatewayTest::BINARY, $good) or die "copy: $!";
chmod 0755, $good;

sub install_binary {
    my ($src) = @_;
    copy($src, "$exe.new") or die "copy: $!";
    chmod 0755, "$exe.new";
    rename "$exe.new", $exe or die "rename: $!";
}

# The journal: a datagram socket only this test knows about.
my $jpath = "$dir/journal.sock";
my $journal = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $jpath) or die "journal socket: $!";
$journal->blocking(0);
$ENV{GATEWAYD_JOURNAL_SOCKET} = $jpath;
my @entries;
# Native protocol: KEY=value lines; a value with a newline as KEY\n, 64-bit LE length, bytes, \n.
sub parse_entry {
    my ($d) = @_;
    my %e;
    while (length $d) {
        my $nl = index($d, "\n");
        last if $nl < 0;
        my $line = substr($d, 0, $nl);
        if ($line =~ /^([A-Z0-9_]+)=(.*)$/s) {
            $e{$1} = $2;
            substr($d, 0, $nl + 1) = '';
        } else {
            my $len = unpack('Q<', substr($d, $nl + 1, 8));
            $e{$line} = substr($d, $nl + 9, $len);
            substr($d, 0, $nl + 9 + $len + 1) = '';
        }
    }
    return \%e;
}
sub read_journal {
    while (defined(my $from = $journal->recv(my $d, 65536))) {
        last unless length $d;
        push @entries, parse_entry($d);
    }
}
sub journal_has {
    my ($re) = @_;
    return wait_until(sub { read_journal(); grep { ($_->{MESSAGE} // '') =~ $re } @entries }, 5);
}

$t->write_conf(<<'EOF');
worker_processes: 1
pid: logs/gatewayd.pid
error_log: logs/error.log
access_log: {path: logs/access.log, flush: 10ms}
shutdown_timeout: 2s
worker_ready_timeout: 5s
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
routes:
  - name: ok
    return: {status: 200, body: "ok\n"}
EOF
my @cmd = ('-p', $dir, '-c', $t->conf);
my $pidfile = $t->pid_file;
my $log = "$dir/logs/error.log";

install_binary($good);
my $old_umask = umask 0;
my $r = $t->run({ binary => $exe }, @cmd);
umask $old_umask;
is($r->{exit}, 0, "the daemon starts") or GatewayTest::abort("cannot start: $r->{out}");
my $master = GatewayTest::read_pid($pidfile);
$t->adopt_master($master);
ok($t->wait_ready, 'ready') or diag($t->diagnostics);

# --- 1. modes -----------------------------------------------------------------------------------

is($t->get('/')->{status}, 200, 'a request (for the access log)');
ok(wait_until(sub { -s "$dir/logs/access.log" }, 5), 'access log written');
is(sprintf('%04o', (stat $log)[2] & 07777), '0640', 'error.log created 0640');
is(sprintf('%04o', (stat "$dir/logs/access.log")[2] & 07777), '0640', 'access.log created 0640');

# --- 2. rotate, reopen: stderr follows ----------------------------------------------------------

rename $log, "$log.1" or die "rename: $!";
$r = $t->run(@cmd, '-s', 'reopen');
is($r->{exit}, 0, '-s reopen');
ok(wait_until(sub { -e $log }, 5), 'a new error.log after USR1');
is(sprintf('%04o', (stat $log)[2] & 07777), '0640', 'the reopened error.log is 0640 too');
is(readlink("/proc/$master/fd/2"), $log, "the master's stderr is the new error.log");

spew("$exe.new", "#!/bin/sh\necho 'broken build: reason on stderr' >&2\nexit 1\n");
chmod 0755, "$exe.new";
rename "$exe.new", $exe or die "rename: $!";
$r = $t->run({ timeout => 30, binary => $good }, @cmd, '-s', 'upgrade');
is($r->{exit}, 1, 'an upgrade to a broken binary fails') or diag($r->{out});
ok(wait_until(sub { $t->error_log =~ /broken build: reason on stderr/ }, 5),
   "the broken binary's reason is in the new error.log") or diag($t->error_log);
unlike(GatewayTest::slurp("$log.1") // '', qr/broken build/, 'not in the rotated file');
ok(journal_has(qr/new master process \d+ exited with code 1/), 'the failed upgrade reached the journal');

# --- 3. upgrade after the rotation: no leaked log descriptor --------------------------------------

install_binary($good);
$r = $t->run({ timeout => 30, binary => $good }, @cmd, '-s', 'upgrade');
is($r->{exit}, 0, 'upgrade after the rotation') or diag($r->{out});
my $new = GatewayTest::read_pid($pidfile);
isnt($new, $master, 'a new master');
$t->adopt_master($new);
my @log_fds;
opendir(my $fdd, "/proc/$new/fd") or die "opendir: $!";
for my $fd (grep { /^\d+$/ } readdir $fdd) {
    my $target = readlink("/proc/$new/fd/$fd") // next;
    push @log_fds, "$fd -> $target" if $fd > 2 && index($target, "$dir/logs/error.log") == 0;
}
closedir $fdd;
is(scalar @log_fds, 1, 'the new master has one error-log descriptor besides stderr (its own)')
    or diag(join("\n", @log_fds));
is(readlink("/proc/$new/fd/2"), $log, "the new master's stderr is error.log");

# --- 4. more alerts in the journal ------------------------------------------------------------

my ($w) = grep { $_->{title} =~ /worker process/ } worker_pids($new);
ok($w, 'a worker of the new master');
kill 'SEGV', $w->{pid} if $w;
ok(journal_has(qr/worker process \d+ exited on signal 11/), 'the crashed worker reached the journal');

$t->write_conf("listeners: []\nbogus: 1\n");
kill 'HUP', $new;
ok(journal_has(qr/reload failed/), 'the failed reload reached the journal');

read_journal();
my @bad = grep { ($_->{PRIORITY} // '') !~ /^[0-2]$/ || ($_->{SYSLOG_IDENTIFIER} // '') ne 'gatewayd' } @entries;
is(scalar @bad, 0, 'only emerg/alert/crit lines, as gatewayd') or diag(explain(\@bad));
ok(!grep({ ($_->{MESSAGE} // '') =~ /SIGUSR1 received/ } @entries), 'notices stay out of the journal');

$t->stop;
done_testing();
