package Load;

# Keep-alive HTTP load for the integration tests, counted exactly: drives t/helpers/loadgen.c (see
# the comment at its top for what it counts and how) in the background. Core Perl modules only.
#
#   my $bin = Load::build($dir);    # compiles t/helpers/loadgen.c into $dir (once per $dir)
#   my $lg  = Load->start(bin => $bin, port => $p, connections => 50, path => '/',
#                         host => 'localhost', timeout_ms => 10000, dir => $dir);
#   $lg->wait_ok(1000, 10) or diag(Load::summary($lg->progress));
#   ... reload / upgrade / kill a worker ...
#   my $r = $lg->stop;              # SIGTERM; the final report
#   is($r->{failed}, 0, 'no request failed') or diag(Load::summary($r));
#
# A report (from progress or stop) is a hashref:
#   {ok, failed, sent, connects, reconnects, max_latency_ms, inflight, established, elapsed_ms,
#    status => {200 => n, ...}, body => {KEY => n, ...}, failure => {REASON => n, ...}, done => 1}
# (progress: {} until loadgen wrote its first report; done only in the final report). Body keys
# are the first 64 bytes of the body with bytes outside printable ASCII as '.' and spaces as '_'
# ("hello\n" -> "hello."), "-" for an empty body. Failure reasons: status_NNN, reset,
# eof_before_response, eof_mid_response, bad_response, timeout, io_error, connect_refused,
# connect_timeout, connect_failed.
#
# Options of start: bin, port (required); connections (50), path ('/'), host ('localhost'),
# timeout_ms (10000), duration (seconds, 0 = until stop), dir (default: a temporary directory).
# Every loadgen still running when the test script ends is killed.

use strict;
use warnings;

use Cwd qw(realpath);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp ();
use POSIX qw(WNOHANG _exit SIGTERM SIGINT SIG_BLOCK SIG_SETMASK);
use Time::HiRes qw(time sleep);

my $SRC = realpath(File::Spec->catfile(dirname(__FILE__), '..', 'helpers', 'loadgen.c'))
          // File::Spec->catfile(dirname(__FILE__), '..', 'helpers', 'loadgen.c');

my %BUILT;      # dir -> binary
my @RUNNING;    # every Load object started by this process
my $SEQ = 0;

# Compiles t/helpers/loadgen.c into $dir/loadgen (once per $dir; $CC or cc). Returns the path;
# dies with the compiler's output on failure.
sub build {
    my ($dir) = @_;
    die "Load::build: no directory given\n" unless defined $dir;
    return $BUILT{$dir} if $BUILT{$dir} && -x $BUILT{$dir};
    my $bin = "$dir/loadgen";
    my $log = "$dir/loadgen.cc.log";
    my $cc = $ENV{CC} // 'cc';
    my @cmd = ($cc, '-O2', '-o', $bin, $SRC);
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $log or _exit(126);
        open STDERR, '>&', \*STDOUT or _exit(126);
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        print STDERR "cannot run $cc: $!\n";
        _exit(127);
    }
    waitpid($pid, 0);
    my $st = $?;
    my $out = _slurp($log) // '';
    die "Load::build: @cmd failed (wait status $st):\n$out" if $st != 0 || !-x $bin;
    return $BUILT{$dir} = $bin;
}

sub start {
    my ($class, %o) = @_;
    defined $o{bin}  or die "Load->start: bin is required\n";
    defined $o{port} or die "Load->start: port is required\n";
    my $self = bless {
        connections => 50,
        path        => '/',
        host        => 'localhost',
        timeout_ms  => 10000,
        duration    => 0,
        %o,
        pid    => undef,
        status => undef,    # wait status once reaped
        owner  => $$,
    }, $class;
    unless (defined $self->{dir}) {
        $self->{tmp} = File::Temp->newdir('gatewayd-load-XXXXXX', TMPDIR => 1, CLEANUP => 1);
        $self->{dir} = "$self->{tmp}";
    }
    my $base = "$self->{dir}/loadgen-$$-" . ++$SEQ;
    $self->{report} = "$base.report";
    $self->{out}    = "$base.out";
    $self->{err}    = "$base.err";
    unlink $self->{report}, $self->{out}, $self->{err};
    my @cmd = ($self->{bin}, '-p', $self->{port}, '-c', $self->{connections},
               '-u', $self->{path}, '-H', $self->{host}, '-t', $self->{timeout_ms},
               '-d', $self->{duration}, '-r', $self->{report});
    $self->{cmd} = \@cmd;
    # SIGTERM/SIGINT are blocked from before the fork until loadgen reads them from its
    # signalfd, so a stop() right after start() cannot kill it before it has set that up
    my $old = POSIX::SigSet->new;
    POSIX::sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGTERM, SIGINT), $old);
    my $pid = fork;
    if (!defined $pid) {
        my $err = $!;
        POSIX::sigprocmask(SIG_SETMASK, $old);
        die "fork: $err";
    }
    if ($pid == 0) {
        $SIG{$_} = 'DEFAULT' for qw(TERM INT PIPE);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $self->{out} or _exit(126);
        open STDERR, '>', $self->{err} or _exit(126);
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        print STDERR "exec $cmd[0]: $!\n";
        _exit(127);
    }
    POSIX::sigprocmask(SIG_SETMASK, $old);
    $self->{pid} = $pid;
    push @RUNNING, $self;
    return $self;
}

sub pid         { $_[0]{pid} }
sub report_file { $_[0]{report} }
sub out_file    { $_[0]{out} }

# Whether loadgen is still running (reaps it when it is not).
sub running {
    my ($self) = @_;
    return 0 unless $self->{pid};
    return 0 if defined $self->{status};
    my $r = waitpid($self->{pid}, WNOHANG);
    if ($r == $self->{pid} || $r < 0) {
        $self->{status} = $r < 0 ? -1 : $?;
        return 0;
    }
    return 1;
}

# The latest report ({} before the first one).
sub progress {
    my ($self) = @_;
    my $text = _slurp($self->{report});
    return {} unless defined $text && length $text;
    return parse($text);
}

# Waits (polling every 50 ms) until ok >= $n; false after $timeout seconds (default 10) or when
# loadgen is gone.
sub wait_ok {
    my ($self, $n, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    while (1) {
        my $p = $self->progress;
        return 1 if ($p->{ok} // 0) >= $n;
        return 0 if time >= $deadline || !$self->running;
        sleep 0.05;
    }
}

# SIGTERM, wait for the exit, return the final report. Dies when there is none.
sub stop {
    my ($self) = @_;
    die "Load->stop: not started\n" unless $self->{pid};
    return $self->{final} if $self->{final};
    kill 'TERM', $self->{pid} if $self->running;
    # loadgen lets the requests already sent finish for up to timeout_ms
    my $deadline = time + $self->{timeout_ms} / 1000 + 15;
    while ($self->running) {
        if (time >= $deadline) {
            kill 'KILL', $self->{pid};
            waitpid($self->{pid}, 0);
            $self->{status} = $?;
            die "Load->stop: loadgen (pid $self->{pid}) did not exit after SIGTERM; killed\n"
                . $self->_diag;
        }
        sleep 0.02;
    }
    @RUNNING = grep { $_ != $self } @RUNNING;
    my $text = _slurp($self->{out}) // '';
    my $r = parse($text);
    die "Load->stop: no final report from loadgen (wait status $self->{status})\n" . $self->_diag
        unless $r->{done};
    return $self->{final} = $r;
}

sub _diag {
    my ($self) = @_;
    my $s = "  command: @{ $self->{cmd} }\n";
    for my $f (qw(out err)) {
        my $t = _slurp($self->{$f}) // '(none)';
        $t = substr($t, -2000) if length $t > 2000;
        $s .= "  $f: $t\n";
    }
    return $s;
}

# A report's text -> hashref (see the top of this file).
sub parse {
    my ($text) = @_;
    my %r = (status => {}, body => {}, failure => {});
    for my $l (split /\n/, $text) {
        if ($l =~ /^(status|body|failure) (\S+) (\d+)$/) {
            $r{$1}{$2} = $3;
        } elsif ($l =~ /^(\w+) (\d+)$/) {
            $r{$1} = $2;
        }
    }
    return \%r;
}

# One line for diag(): "ok=1234 failed=2 (reset=2) sent=1236 connects=50 reconnects=0
# max_latency_ms=3 status{200=1234} body{a=600,b=634}".
sub summary {
    my ($r) = @_;
    return 'no report' unless $r && %$r;
    my $h = sub {
        my ($name, $m) = @_;
        $m ||= {};
        my @k = sort { ($a =~ /^\d+$/ && $b =~ /^\d+$/) ? $a <=> $b : $a cmp $b } keys %$m;
        return "$name\{" . join(',', map { "$_=$m->{$_}" } @k) . '}';
    };
    my $f = $r->{failure} || {};
    my $s = 'ok=' . ($r->{ok} // '?') . ' failed=' . ($r->{failed} // '?');
    $s .= ' (' . join(', ', map { "$_=$f->{$_}" } sort keys %$f) . ')' if %$f;
    for my $k (qw(sent inflight connects reconnects max_latency_ms)) {
        $s .= " $k=$r->{$k}" if defined $r->{$k};
    }
    $s .= ' ' . $h->('status', $r->{status}) . ' ' . $h->('body', $r->{body});
    $s .= ' (final)' if $r->{done};
    return $s;
}

sub _slurp {
    my ($f) = @_;
    open my $fh, '<:raw', $f or return undef;
    local $/;
    my $s = <$fh>;
    return $s // '';
}

END {
    my $st = $?;
    for my $lg (@RUNNING) {
        next unless $lg->{owner} == $$ && $lg->{pid} && !defined $lg->{status};
        kill 'KILL', $lg->{pid};
        waitpid($lg->{pid}, 0);
    }
    @RUNNING = ();
    $? = $st;
}

1;
