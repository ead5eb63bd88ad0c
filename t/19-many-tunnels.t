#!/usr/bin/perl
# Capacity: one gatewayd worker holds 10,000 concurrent upgraded (WebSocket) tunnels.
#
# t/helpers/tunnels.c is compiled at test time (cc): its "server" mode is the upstream (answers
# every request with a 101, then echoes), its "client" mode opens N tunnels through the gateway,
# checks a distinct token echoed on each with all of them open at once, then holds them open
# until we close its stdin. Meanwhile we look at the worker: same pid, gateway_connections_active
# >= N, resident memory (VmRSS). After the client exits, the connections must be released.
#
# The worker needs 2 descriptors per tunnel (client side and upstream side), so N is bounded by
# the hard RLIMIT_NOFILE (the gateway raises its soft limit to the hard one by itself):
# N = min(10000, int((hard limit - 500) / 2)); 10,000 needs a hard limit of at least 20,500.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp ();
use IO::Select;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;

my $WANT = 10_000;
# Bound on the worker's VmRSS with N tunnels open: 32 MB plus 60 kB per tunnel (about 600 MB for
# 10,000). Measured (0.1.0, jemalloc, Debian 12): about 30 kB per tunnel, 286 MB for 9,750.
sub rss_limit_kb { my ($n) = @_; return 32 * 1024 + 60 * $n }

# --- the C helper --------------------------------------------------------------------------------

sub find_in_path {
    my ($prog) = @_;
    for my $d (split /:/, $ENV{PATH} // '') {
        return "$d/$prog" if length $d && -x "$d/$prog" && !-d "$d/$prog";
    }
    return undef;
}

my $cc = find_in_path('cc')
    or plan skip_all => 'no C compiler (cc) in PATH: t/helpers/tunnels.c cannot be built';

my $tmp = File::Temp->newdir('gatewayd-tunnels-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bin = "$tmp/tunnels";
my $cout = `$cc -O2 -o $bin $FindBin::Bin/helpers/tunnels.c 2>&1`;
if ($? != 0 || !-x $bin) {
    fail('compile t/helpers/tunnels.c');
    diag($cout);
    done_testing();
    exit 1;
}
pass('t/helpers/tunnels.c compiled');

# --- how many tunnels this machine allows ----------------------------------------------------------

sub nofile_hard {
    open my $fh, '<', '/proc/self/limits' or return undef;
    while (my $l = <$fh>) {
        if ($l =~ /^Max open files\s+(\S+)\s+(\S+)/) {
            return $2 eq 'unlimited' ? 1 << 30 : $2;
        }
    }
    return undef;
}
my $hard = nofile_hard() // 1024;
my $N = int(($hard - 500) / 2);
$N = $WANT if $N > $WANT;
plan skip_all => "the hard RLIMIT_NOFILE ($hard) leaves no room for tunnels" if $N < 10;
diag("tunnels: N = $N (hard RLIMIT_NOFILE $hard; the worker needs 2 descriptors per tunnel plus about 500 spare: "
     . "N = min($WANT, int(($hard - 500) / 2)))");
diag("tunnels: fewer than $WANT because 10,000 tunnels need a nofile hard limit of at least 20,500 "
     . "(the gateway raises its soft limit itself)") if $N < $WANT;

# --- the upstream: tunnels server ---------------------------------------------------------------

my @KIDS;
END {
    my $st = $?;
    for my $p (@KIDS) { kill 'KILL', $p; waitpid($p, 0) }
    $? = $st;
}

my $portfile = "$tmp/server.port";
my $spid = fork // die "fork: $!";
if ($spid == 0) {
    open STDIN, '<', '/dev/null';
    { no warnings qw(exec); exec { $bin } $bin, 'server', $portfile; }
    _exit(127);
}
push @KIDS, $spid;
my $up_port;
wait_until(sub { $up_port = (slurp($portfile) // '') =~ /^(\d+)$/ ? $1 : undef }, 10)
    or BAIL_OUT('the tunnels server did not write its port');

# --- the gateway ----------------------------------------------------------------------------------

my $t = GatewayTest->new;
$t->set_port('tun', $up_port);
$t->write_conf(conf_head(1) . <<'EOF');
worker_connections: 12000
upstreams:
  tun:
    servers: [{address: 127.0.0.1:%%tun%%}]
routes:
  - name: tunnels
    match: {path_prefix: /}
    upstream: tun
    timeout: {tunnel: 60s}
EOF
$t->start;
my $port = $t->port('http');
my @w = $t->workers;
is(scalar @w, 1, 'one worker');
my $wpid = $w[0]{pid};

sub active {
    my $m = $t->metrics or return undef;
    return metric_sum($m, 'gateway_connections_active');
}
sub fd_count {
    my ($pid) = @_;
    opendir my $dh, "/proc/$pid/fd" or return undef;
    my $n = grep { /^\d+$/ } readdir $dh;
    return $n;
}
sub worker_limit {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/limits" or return '?';
    while (my $l = <$fh>) { return "$1/$2" if $l =~ /^Max open files\s+(\S+)\s+(\S+)/ }
    return '?';
}

my $active0 = active();
my $rss0 = rss_kb($wpid);
ok(defined $active0 && defined $rss0, 'metrics and worker VmRSS readable before')
    or BAIL_OUT('cannot read /metrics or the worker VmRSS');
note("worker $wpid: nofile limit (soft/hard) " . worker_limit($wpid) . ", VmRSS $rss0 kB, active $active0");

# --- the client: N tunnels -----------------------------------------------------------------------

pipe(my $cin_r, my $cin_w) or die "pipe: $!";
pipe(my $cout_r, my $cout_w) or die "pipe: $!";
my $t0 = time;
my $cpid = fork // die "fork: $!";
if ($cpid == 0) {
    close $cin_w;
    close $cout_r;
    open STDIN, '<&', $cin_r or _exit(126);
    open STDOUT, '>&', $cout_w or _exit(126);
    $ENV{TUNNELS_TIMEOUT} = 25;
    { no warnings qw(exec); exec { $bin } $bin, 'client', $port, '/ws', $N; }
    _exit(127);
}
push @KIDS, $cpid;
close $cin_r;
close $cout_w;

# reads the client's two result lines (it then waits for its stdin to close)
my $out = '';
{
    my $sel = IO::Select->new($cout_r);
    my $deadline = time + 55;
    while (($out =~ tr/\n//) < 2 && time < $deadline) {
        next unless $sel->can_read($deadline - time);
        my $n = sysread($cout_r, my $chunk, 4096);
        last unless $n;
        $out .= $chunk;
    }
}
my $dt_open = time - $t0;
my ($open, $upgraded, $echoed) = $out =~ /open=(\d+) upgraded=(\d+) echoed=(\d+)/;
my ($tup, $techo) = $out =~ /upgrade_seconds=([\d.]+) echo_seconds=([\d.]+)/;
ok(defined $open, 'the client reported') or diag("client output: $out");
is($open, $N, "$N connections opened");
is($upgraded, $N, "$N tunnels upgraded (101 through the gateway)");
is($echoed, $N, "$N tokens echoed, each on its own tunnel, with all $N open at once");
diag(sprintf('tunnels: %d opened and upgraded in %.2fs, echo round over all of them %.2fs',
             $upgraded // 0, $tup // -1, $techo // -1));
my ($details) = $out =~ /^(upgrade_seconds=.*)$/m;
note("client: $details") if $details;

# --- while every tunnel is open --------------------------------------------------------------------

{
    my @now = map { $_->{pid} } $t->workers;
    is_deeply(\@now, [$wpid], 'the worker is still the same process (no crash, no respawn)');
    ok(proc_alive($wpid), 'worker alive');
    my $act = active();
    ok(defined $act && $act >= $N, "gateway_connections_active >= $N while the tunnels are open")
        or diag('gateway_connections_active: ' . ($act // 'undef'));
    my $rss = rss_kb($wpid) // 0;
    my $fds = fd_count($wpid) // -1;
    my $per = $N ? ($rss - $rss0) * 1024 / $N : 0;
    diag(sprintf('tunnels: worker VmRSS %.1f MB with %d tunnels open (%.1f MB before; %.0f bytes per tunnel), '
                 . '%d descriptors open, gateway_connections_active %s',
                 $rss / 1024, $N, $rss0 / 1024, $per, $fds, $act // 'undef'));
    my $lim = rss_limit_kb($N);
    ok($rss < $lim, sprintf('worker VmRSS %.1f MB < %.0f MB (32 MB + 60 kB per tunnel) with %d tunnels open',
                            $rss / 1024, $lim / 1024, $N));
    ok($fds >= 2 * $N, "the worker holds both sides of every tunnel ($fds descriptors)");
}

# --- close everything ------------------------------------------------------------------------------

close $cin_w;
my $cst;
wait_until(sub { my $r = waitpid($cpid, WNOHANG); if ($r == $cpid) { $cst = $?; return 1 } 0 }, 20);
@KIDS = grep { $_ != $cpid } @KIDS if defined $cst;
is($cst, 0, 'the client exited 0 (every tunnel upgraded and echoed)');

my $act_after;
my $drained = wait_until(sub { $act_after = active(); defined $act_after && $act_after <= $active0 }, 20, 0.1);
ok($drained, "gateway_connections_active drops back to $active0 after the client closed")
    or diag('gateway_connections_active: ' . ($act_after // 'undef'));
my $fds_after;
ok(wait_until(sub { $fds_after = fd_count($wpid) // 1e9; $fds_after < 200 }, 20, 0.1),
   'the worker closed the upstream sides too') or diag("worker descriptors: $fds_after");
is_deeply([map { $_->{pid} } $t->workers], [$wpid], 'still the same worker after the close');
my $h = $t->admin_get('/health');
is($h && $h->{status}, 200, 'gateway healthy');
note(sprintf('worker VmRSS after the close: %.1f MB; whole test %.1fs', (rss_kb($wpid) // 0) / 1024, time - $t0));

my @bad = grep { /\[(?:alert|crit|emerg)\]/ } split /\n/, $t->error_log;
ok(!@bad, 'no alert/crit/emerg in the error log') or diag(join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]);

done_testing();
