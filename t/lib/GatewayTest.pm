package GatewayTest;

# Test harness for the gatewayd integration tests (t/*.t). Core Perl modules only.
#
# One GatewayTest object is one gatewayd instance under test: a private temporary prefix
# directory (with logs/), named free loopback ports, a config written from a template, and
# the master process started in the foreground (-F, a child of the test) or as a daemon.
# Every instance is stopped (master and workers killed) when the test script ends, whatever
# happened, and the tail of its logs is printed when a test failed.
#
#   my $t = GatewayTest->new;
#   $t->write_conf(<<'EOF');          # %%name%% -> a free port named "name", %%PREFIX%% -> dir
#   listeners:
#     - address: 127.0.0.1:%%http%%
#     - {address: 127.0.0.1:%%admin%%, admin: true}
#   ...
#   EOF
#   $t->start;                        # -F -p DIR -c DIR/gateway.conf, waits for /health/ready
#   my $r = http_get($t->port('http'), '/hello');
#   $t->stop;

use strict;
use warnings;

use Cwd qw(realpath);
use Errno qw(EINTR EAGAIN ECONNRESET EPIPE);
use Exporter qw(import);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp ();
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(WNOHANG _exit);
use Socket qw(SOL_SOCKET SO_LINGER);
use Test::More ();
use Time::HiRes qw(time sleep);

our @EXPORT = qw(
    http_get http_request http_connect
    free_port wait_until slurp spew
    proc_children proc_descendants proc_title proc_alive worker_pids
    parse_json parse_metrics metric_sum metric_samples access_log_entry
    require_modules has_modules
);

$SIG{PIPE} = 'IGNORE';    # a write to a socket the server closed must not kill the test

our $BINARY = $ENV{GATEWAYD} // do {
    # t/lib/GatewayTest.pm -> repository root
    my $root = realpath(File::Spec->catdir(dirname(__FILE__), '..', '..'));
    "$root/objs/gatewayd";
};
$BINARY = realpath($BINARY) // $BINARY if -e $BINARY;

my @INSTANCES;    # every instance ever created: stopped in END

# ---------------------------------------------------------------------------------------------
# instance

sub new {
    my ($class, %opt) = @_;
    my $tmp = File::Temp->newdir('gatewayd-test-XXXXXX', TMPDIR => 1,
                                 CLEANUP => $ENV{GATEWAYD_KEEP} ? 0 : 1);
    my $dir = realpath("$tmp");
    mkdir "$dir/logs" or die "mkdir $dir/logs: $!";
    my $self = bless {
        tmp   => $tmp,
        dir   => $dir,
        ports => {},
        conf  => "$dir/gateway.conf",
        pid   => undef,      # master pid
        child => 0,          # the master is our child (foreground) and must be reaped by us
        exit  => undef,      # wait status of the master once it exited (foreground only)
        seen  => {},         # every pid we ever saw in this instance's process tree
        %opt,
    }, $class;
    push @INSTANCES, $self;
    Test::More::note("gatewayd test prefix: $dir") if $ENV{GATEWAYD_KEEP};
    return $self;
}

sub dir  { $_[0]{dir} }
sub conf { $_[0]{conf} }
sub pid  { $_[0]{pid} }

# A free loopback port, allocated once per name.
sub port {
    my ($self, $name) = @_;
    return $self->{ports}{$name} //= free_port();
}

# Gives the name a port chosen elsewhere (e.g. a backend already listening), for %%name%%.
sub set_port {
    my ($self, $name, $port) = @_;
    $self->{ports}{$name} = $port;
    return $port;
}

# Expands %%PREFIX%% and %%name%% (a free port named "name") in a config template.
sub expand {
    my ($self, $text) = @_;
    $text =~ s/%%PREFIX%%/$self->{dir}/g;
    $text =~ s/%%(\w+)%%/$self->port($1)/ge;
    return $text;
}

# Writes a config file (default gateway.conf) from a template; returns its absolute path.
sub write_conf {
    my ($self, $text, $file) = @_;
    my $path = defined $file ? ($file =~ m{^/} ? $file : "$self->{dir}/$file") : $self->{conf};
    my $d = dirname($path);
    unless (-d $d) { require File::Path; File::Path::make_path($d) }
    # write to a temporary name and rename, so a master reading it never sees half a file
    spew("$path.tmp$$", $self->expand($text));
    rename "$path.tmp$$", $path or die "rename $path: $!";
    return $path;
}

sub path {
    my ($self, $rel) = @_;
    return $rel =~ m{^/} ? $rel : "$self->{dir}/$rel";
}

sub error_log     { slurp($_[0]->path($_[1] // 'logs/error.log')) // '' }
sub pid_file      { $_[0]->path($_[0]{pid_file} // 'logs/gatewayd.pid') }
sub set_pid_file  { $_[0]{pid_file} = $_[1] }

# Runs gatewayd to completion with @args; returns {exit, signal, stdout, stderr, out, timed_out}.
# Options (a hashref as the first argument): timeout (s, default 10), chdir.
sub run {
    my $self = shift;
    my $opt = ref $_[0] eq 'HASH' ? shift : {};
    return run_gatewayd({ dir => $self->{dir}, %$opt }, @_);
}

sub run_gatewayd {
    my $opt = ref $_[0] eq 'HASH' ? shift : {};
    my @args = @_;
    my $timeout = $opt->{timeout} // 10;
    my $cap = File::Temp->newdir('gatewayd-run-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my ($out, $err) = ("$cap/stdout", "$cap/stderr");
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{PIPE} = 'DEFAULT';
        chdir $opt->{chdir} or _exit(126) if defined $opt->{chdir};
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out or _exit(126);
        open STDERR, '>', $err or _exit(126);
        my $bin = $opt->{binary} // $BINARY;
        { no warnings qw(exec); exec { $bin } $bin, @args; }
        print STDERR "exec $bin: $!\n";
        _exit(127);
    }
    my $deadline = time + $timeout;
    my $timed_out = 0;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        last if $r == $pid;
        if (time > $deadline) {
            $timed_out = 1;
            my @d = proc_descendants($pid);
            kill 'KILL', $pid, @d;
            waitpid($pid, 0);
            last;
        }
        sleep 0.01;
    }
    my $status = $?;
    my %r = (
        exit      => $status >> 8,
        signal    => $status & 127,
        stdout    => slurp($out) // '',
        stderr    => slurp($err) // '',
        timed_out => $timed_out,
        cmd       => join(' ', 'gatewayd', @args),
    );
    $r{out} = $r{stdout} . $r{stderr};
    $r{exit} = -1 if $timed_out;
    return \%r;
}

# Starts the master in the foreground (-F) as our child and waits until it is ready.
# Options: args (replaces the default "-F -p DIR -c CONF"), extra (appended), ready (default 1),
# timeout (readiness deadline, default 10 s), binary (default: the one under test).
sub start {
    my ($self, %opt) = @_;
    my @args = $opt{args} ? @{ $opt{args} } : ('-F', '-p', $self->{dir}, '-c', $self->{conf});
    push @args, @{ $opt{extra} } if $opt{extra};
    my $log = "$self->{dir}/master.stderr";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{PIPE} = 'DEFAULT';
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or _exit(126);
        open STDERR, '>>', $log or _exit(126);
        my $bin = $opt{binary} // $BINARY;
        { no warnings qw(exec); exec { $bin } $bin, @args; }
        print STDERR "exec $bin: $!\n";
        _exit(127);
    }
    $self->{pid} = $pid;
    $self->{child} = 1;
    $self->{exit} = undef;
    $self->{seen}{$pid} = 1;
    return $self unless $opt{ready} // 1;
    $self->wait_ready($opt{timeout}) or abort("gatewayd (@args) did not become ready");
    return $self;
}

# Starts in daemon mode (no -F): the command must return; the master pid is read from the pid
# file. Returns the run() result of the start command.
sub start_daemon {
    my ($self, %opt) = @_;
    my @args = $opt{args} ? @{ $opt{args} } : ('-p', $self->{dir}, '-c', $self->{conf});
    my $r = $self->run({ timeout => $opt{timeout} // 10 }, @args);
    return $r if $r->{exit} != 0;
    my $pf = $self->pid_file;
    my $pid;
    wait_until(sub { $pid = read_pid($pf); $pid && proc_alive($pid) }, 10);
    $self->{pid} = $pid;
    $self->{child} = 0;
    $self->{exit} = undef;
    $self->{seen}{$pid} = 1 if $pid;
    if ($pid && ($opt{ready} // 1)) {
        $self->wait_ready($opt{ready_timeout});
    }
    return $r;
}

# Fails the test script at once (a test that cannot start its gateway can test nothing more).
sub abort {
    my ($why) = @_;
    Test::More::fail($why);
    Test::More::done_testing();
    exit 1;
}

sub read_pid {
    my ($file) = @_;
    my $s = slurp($file) // return undef;
    return $s =~ /^\s*(\d+)\s*$/ ? $1 : undef;
}

# Polls GET /health/ready on the admin port until 200. False if the deadline passes or the
# master exits.
sub wait_ready {
    my ($self, $timeout) = @_;
    my $port = $self->port($self->{admin_port_name} // 'admin');
    my $ok = wait_until(sub {
        return 'dead' unless $self->alive;
        my $r = http_get($port, '/health/ready', {}, timeout => 1);
        return $r && $r->{status} == 200;
    }, $timeout // 10, 0.025);
    return $ok && $ok ne 'dead';
}

# Whether the master is still running (reaps it if it is our child).
sub alive {
    my ($self) = @_;
    my $pid = $self->{pid} or return 0;
    if ($self->{child}) {
        return 0 if defined $self->{exit};
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) { $self->{exit} = $?; return 0 }
        return $r == 0 ? 1 : 0;
    }
    return proc_alive($pid);
}

# Waits until the master has exited; returns true if it did within the deadline.
sub wait_exit {
    my ($self, $timeout) = @_;
    return wait_until(sub { !$self->alive }, $timeout // 10, 0.01);
}

# After a binary upgrade: the instance's master is now $pid, which is not our child.
sub adopt_master {
    my ($self, $pid) = @_;
    $self->remember;
    $self->{pid} = $pid;
    $self->{child} = 0;
    $self->{exit} = undef;
    $self->{seen}{$pid} = 1;
    return $self;
}

# The master's wait status (foreground only; undef while running).
sub exit_status { $_[0]{exit} }

sub signal {
    my ($self, $sig) = @_;
    my $pid = $self->{pid} or die "no master";
    $self->remember;
    return kill $sig, $pid;
}

# Workers (live children of the master): list of {pid, title}.
sub workers {
    my ($self) = @_;
    return () unless $self->{pid};
    my @w = worker_pids($self->{pid});
    $self->{seen}{ $_->{pid} } = 1 for @w;
    return @w;
}

sub remember {
    my ($self) = @_;
    return unless $self->{pid};
    $self->{seen}{$_} = 1 for proc_descendants($self->{pid});
}

# Stops the instance: TERM to the master, then KILL to whatever of its tree is left.
sub stop {
    my ($self, %opt) = @_;
    my $pid = $self->{pid};
    if ($pid && $self->alive) {
        $self->remember;
        kill 'TERM', $pid;
        $self->wait_exit($opt{timeout} // 5);
        if ($self->alive) {
            kill 'KILL', $pid;
            $self->wait_exit(2);
        }
    }
    # no worker (or stray child) may outlive the test
    my @left = grep { proc_alive($_) && proc_is_gatewayd($_) } keys %{ $self->{seen} };
    if (@left) {
        wait_until(sub { !grep { proc_alive($_) } @left }, 2);
        kill 'KILL', grep { proc_alive($_) } @left;
    }
    return $self;
}

# Log tails for diagnostics.
sub diagnostics {
    my ($self) = @_;
    my $s = "--- gatewayd instance in $self->{dir}\n";
    for my $f ('logs/error.log', 'master.stderr') {
        my $c = slurp("$self->{dir}/$f");
        next unless defined $c && length $c;
        my @l = split /\n/, $c;
        @l = @l[-40 .. -1] if @l > 40;
        $s .= "--- tail of $f:\n" . join("\n", @l) . "\n";
    }
    return $s;
}

# Shortcuts on the instance's ports.
sub get       { my ($self, $path, @rest) = @_; http_get($self->port('http'), $path, @rest) }
sub admin_get { my ($self, $path, @rest) = @_; http_get($self->port('admin'), $path, @rest) }

sub status_json {
    my ($self) = @_;
    my $r = $self->admin_get('/status') or return undef;
    return undef unless $r->{status} == 200;
    return parse_json($r->{body});
}

sub metrics {
    my ($self) = @_;
    my $r = $self->admin_get('/metrics') or return undef;
    return undef unless $r->{status} == 200;
    return parse_metrics($r->{body});
}

END {
    my $status = $?;
    my $failed = !Test::More->builder->is_passing || $status != 0;
    for my $t (@INSTANCES) {
        eval { $t->stop(timeout => 3) };
        Test::More::diag($t->diagnostics) if $failed;
    }
    @INSTANCES = ();    # lets File::Temp remove the directories
    $? = $status;
}

# ---------------------------------------------------------------------------------------------
# processes (from /proc)

sub _stat {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return;
    my $s = do { local $/; <$fh> } // return;
    my ($comm, $rest) = $s =~ /^\d+ \((.*)\) (.*)$/s or return;
    my @f = split ' ', $rest;
    return { pid => $pid, state => $f[0], ppid => $f[1], comm => $comm };
}

# Alive and not a zombie.
sub proc_alive {
    my ($pid) = @_;
    return 0 unless $pid;
    my $st = _stat($pid) or return 0;
    return $st->{state} ne 'Z' && $st->{state} ne 'X';
}

sub proc_title {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/cmdline" or return undef;
    my $s = do { local $/; <$fh> } // '';
    $s =~ s/\0+$//;
    $s =~ s/\0/ /g;
    $s =~ s/\s+$//;
    return $s;
}

sub proc_is_gatewayd {
    my ($pid) = @_;
    my $t = proc_title($pid) // return 0;
    return $t =~ /gatewayd/;
}

sub _all_stats {
    my @s;
    opendir my $dh, '/proc' or return;
    for my $p (grep { /^\d+$/ } readdir $dh) {
        my $st = _stat($p) or next;
        push @s, $st;
    }
    return @s;
}

# Live (non-zombie) children of $ppid.
sub proc_children {
    my ($ppid) = @_;
    return map { $_->{pid} }
           grep { $_->{ppid} == $ppid && $_->{state} ne 'Z' && $_->{state} ne 'X' } _all_stats();
}

sub proc_descendants {
    my ($root) = @_;
    my %kids;
    push @{ $kids{ $_->{ppid} } }, $_->{pid} for _all_stats();
    my @out;
    my @todo = ($root);
    while (defined(my $p = shift @todo)) {
        for my $c (@{ $kids{$p} || [] }) { push @out, $c; push @todo, $c }
    }
    return @out;
}

# Children of the master with their titles: list of {pid, title}, sorted by pid.
sub worker_pids {
    my ($master) = @_;
    return sort { $a->{pid} <=> $b->{pid} }
           map { { pid => $_, title => proc_title($_) // '' } } proc_children($master);
}

# ---------------------------------------------------------------------------------------------
# modules

# The modules the binary is built with: the words of `gatewayd -V`'s "modules:" line, as a
# hash; undef when there is no such line (a binary from before modules: everything is in).
my $MODULES;
sub built_modules {
    return $MODULES if $MODULES;
    open my $fh, '-|', $BINARY, '-V' or return undef;
    local $/;
    my $out = <$fh> // '';
    close $fh;
    my ($line) = $out =~ /^modules:(.*)$/m;
    return undef unless defined $line;
    $MODULES = { map { $_ => 1 } split ' ', $line };
    return $MODULES;
}

# Whether the binary is built with every one of these modules.
sub has_modules {
    my $built = built_modules() or return 1;
    return !grep { !$built->{$_} } @_;
}

# require_modules('ratelimit', ...) before the plan: the whole test is skipped (skip_all) when
# the binary is built without one of them (./configure --without-NAME).
sub require_modules {
    my $built = built_modules() or return;
    my @missing = grep { !$built->{$_} } @_;
    return unless @missing;
    Test::More::plan(skip_all => 'gatewayd is built without the module' . (@missing > 1 ? 's ' : ' ') .
                                 join(', ', @missing) . ' (./configure --without-...)');
}

# ---------------------------------------------------------------------------------------------
# utilities

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                  Listen => 1)
        or die "cannot bind a free port: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

# Calls $cond every $interval seconds until it returns true or $timeout seconds passed.
# Returns the true value, or undef on timeout.
sub wait_until {
    my ($cond, $timeout, $interval) = @_;
    $timeout //= 10;
    $interval //= 0.02;
    my $deadline = time + $timeout;
    while (1) {
        my $v = $cond->();
        return $v if $v;
        return undef if time > $deadline;
        sleep $interval;
    }
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<:raw', $file or return undef;
    local $/;
    my $s = <$fh>;
    return $s // '';
}

sub spew {
    my ($file, $text) = @_;
    open my $fh, '>:raw', $file or die "write $file: $!";
    print $fh $text;
    close $fh or die "close $file: $!";
}

# The JSON access-log line in $file of the request whose uri is exactly $uri, decoded (undef
# when none is written within 5 s: lines are flushed on a timer).
sub access_log_entry {
    my ($file, $uri) = @_;
    my $entry;
    wait_until(sub {
        for my $line (split /\n/, slurp($file) // '') {
            my $e = parse_json($line) or next;
            next unless ($e->{uri} // '') eq $uri;
            $entry = $e;
            return 1;
        }
        return 0;
    }, 5);
    return $entry;
}

sub parse_json {
    my ($text) = @_;
    return undef unless defined $text;
    my $v = eval { JSON::PP->new->allow_nonref->decode($text) };
    return $v;
}

# Prometheus text format -> {samples => [{name, labels => {}, value, line}], types => {name =>
# type}, help => {}, bad => [lines that do not parse]}.
sub parse_metrics {
    my ($text) = @_;
    my %m = (samples => [], types => {}, help => {}, bad => []);
    for my $line (split /\n/, $text) {
        next if $line eq '';
        if ($line =~ /^#\s*TYPE\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s+(counter|gauge|histogram|summary|untyped)\s*$/) {
            $m{types}{$1} = $2;
            next;
        }
        if ($line =~ /^#\s*HELP\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s(.*)$/) {
            $m{help}{$1} = $2;
            next;
        }
        next if $line =~ /^#/;
        my $num = qr/[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|Inf|NaN)/;
        if ($line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+($num)(?:\s+-?\d+)?$/) {
            my ($name, $lab, $val) = ($1, $2, $3);
            my %labels;
            my $ok = 1;
            if (defined $lab && length $lab) {
                my $rest = $lab;
                while (length $rest) {
                    if ($rest =~ s/^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(?:,|$)//) {
                        my ($k, $v) = ($1, $2);
                        $v =~ s/\\n/\n/g;
                        $v =~ s/\\(["\\])/$1/g;
                        $labels{$k} = $v;
                    } else {
                        $ok = 0;
                        last;
                    }
                }
            }
            if ($ok) {
                push @{ $m{samples} }, { name => $name, labels => \%labels, value => 0 + ($val =~ /^\+?Inf$/ ? 9**9**9 : $val), line => $line };
                next;
            }
        }
        push @{ $m{bad} }, $line;
    }
    return \%m;
}

# Samples of a metric whose labels include every key/value of %$filter.
sub metric_samples {
    my ($m, $name, $filter) = @_;
    $filter ||= {};
    return grep {
        my $s = $_;
        $s->{name} eq $name
            && !grep { !defined $s->{labels}{$_} || $s->{labels}{$_} ne $filter->{$_} } keys %$filter
    } @{ $m->{samples} };
}

# Sum of the matching samples; undef when there is none.
sub metric_sum {
    my ($m, $name, $filter) = @_;
    my @s = metric_samples($m, $name, $filter);
    return undef unless @s;
    my $sum = 0;
    $sum += $_->{value} for @s;
    return $sum;
}

# ---------------------------------------------------------------------------------------------
# HTTP client

# Opens a connection to 127.0.0.1:$port; returns a GatewayTest::Conn or undef. Options: timeout,
# local (the source address, e.g. 127.0.0.2: any of 127/8 is this host).
sub http_connect {
    my ($port, %opt) = @_;
    return GatewayTest::Conn->new($port, %opt);
}

# GET $path on a fresh connection; returns the parsed response (see Conn::read_response) or
# undef. $headers: hashref of extra headers (Host defaults to 127.0.0.1:PORT).
sub http_get {
    my ($port, $path, $headers, %opt) = @_;
    $headers ||= {};
    my $method = $opt{method} // 'GET';
    my %h = map { lc($_) => [$_, $headers->{$_}] } keys %$headers;
    my $req = "$method $path HTTP/1.1\r\n";
    $req .= "Host: 127.0.0.1:$port\r\n" unless exists $h{host};
    $req .= "$h{$_}[0]: $h{$_}[1]\r\n" for sort keys %h;
    $req .= "\r\n";
    return http_request($port, $req, head => $method eq 'HEAD', %opt);
}

# Sends $raw on a fresh connection and reads one response.
sub http_request {
    my ($port, $raw, %opt) = @_;
    my $c = http_connect($port, timeout => $opt{timeout} // 5) or return undef;
    $c->send($raw) or return undef;
    my $r = $c->read_response(head => $opt{head});
    $c->close;
    return $r;
}

package GatewayTest::Conn;

use strict;
use warnings;
use Errno qw(EINTR EAGAIN ECONNRESET);
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time);

sub new {
    my ($class, $port, %opt) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
                                     Timeout => $opt{timeout} // 5,
                                     $opt{local} ? (LocalAddr => $opt{local}) : ())
        or return undef;
    binmode $sock;
    $sock->autoflush(1);
    return bless { sock => $sock, buf => '', eof => 0, timeout => $opt{timeout} // 5,
                   error => undef, port => $port }, $class;
}

sub sock   { $_[0]{sock} }
sub is_eof { $_[0]{eof} }
sub error  { $_[0]{error} }

# Writes all of $data; false if the peer has closed or reset the connection.
sub send {
    my ($self, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($self->{sock}, $data, length($data) - $off, $off);
        if (!defined $n) {
            next if $! == EINTR;
            $self->{error} = "write: $!";
            return 0;
        }
        $off += $n;
    }
    return 1;
}

# Reads what is available (waiting up to the deadline). Returns the byte count, 0 at EOF
# (or reset), undef on timeout.
sub fill {
    my ($self, $deadline) = @_;
    return 0 if $self->{eof};
    my $sel = IO::Select->new($self->{sock});
    while (1) {
        my $left = $deadline - time;
        if ($left <= 0) { $self->{error} = 'timeout'; return undef }
        next unless $sel->can_read($left);
        my $n = sysread($self->{sock}, my $chunk, 65536);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            $self->{error} = "read: $!";
            $self->{eof} = 1;    # ECONNRESET and the like: nothing more will come
            $self->{reset} = 1 if $! == ECONNRESET;
            return 0;
        }
        if ($n == 0) { $self->{eof} = 1; return 0 }
        $self->{buf} .= $chunk;
        return $n;
    }
}

# Reads one response (1xx interim responses are returned as responses of their own).
# Options: head => 1 (response to HEAD: no body), timeout => s.
# Returns {proto, status, reason, headers => {lc name => value (joined with ", ")},
# header_list => [[name, value], ...], body, raw} or undef (see ->error).
sub read_response {
    my ($self, %opt) = @_;
    my $deadline = time + ($opt{timeout} // $self->{timeout});
    my $end;
    while (($end = index($self->{buf}, "\r\n\r\n")) < 0) {
        my $n = $self->fill($deadline);
        if (!$n) {
            $self->{error} = 'connection closed before a complete response head'
                . (length $self->{buf} ? " (got: $self->{buf})" : '')
                if defined $n;
            return undef;
        }
    }
    my $head = substr($self->{buf}, 0, $end + 4, '');
    my @lines = split /\r\n/, substr($head, 0, $end);
    my $sl = shift @lines;
    my ($proto, $status, $reason) = $sl =~ m{^(HTTP/\d\.\d) (\d{3})(?: (.*))?$}
        or do { $self->{error} = "bad status line: $sl"; return undef };
    my (%h, @hl);
    for my $l (@lines) {
        my ($n, $v) = $l =~ /^([^:\s]+):[ \t]*(.*?)[ \t]*$/
            or do { $self->{error} = "bad header line: $l"; return undef };
        push @hl, [$n, $v];
        $h{ lc $n } = exists $h{ lc $n } ? "$h{lc $n}, $v" : $v;
    }
    my $r = { proto => $proto, status => 0 + $status, reason => $reason // '', headers => \%h,
              header_list => \@hl, body => '', head => $head };
    my $nobody = $opt{head} || $status =~ /^1/ || $status == 204 || $status == 304;
    if ($nobody) {
        # nothing
    } elsif (($h{'transfer-encoding'} // '') =~ /chunked\s*$/i) {
        my $body = '';
        while (1) {
            my $le;
            while (($le = index($self->{buf}, "\r\n")) < 0) {
                $self->fill($deadline) or do { $self->{error} //= 'eof in chunked body'; return undef };
            }
            my $line = substr($self->{buf}, 0, $le + 2, '');
            my ($size) = $line =~ /^([0-9a-fA-F]+)/ or do { $self->{error} = "bad chunk: $line"; return undef };
            $size = hex $size;
            if ($size == 0) {
                # trailers until an empty line (kept in $r->{trailers}: [[name, value], ...])
                $r->{trailers} = [];
                while (1) {
                    while (($le = index($self->{buf}, "\r\n")) < 0) {
                        $self->fill($deadline) or do { $self->{error} //= 'eof in trailers'; return undef };
                    }
                    my $t = substr($self->{buf}, 0, $le + 2, '');
                    last if $t eq "\r\n";
                    push @{ $r->{trailers} }, [$1, $2] if $t =~ /^([^:\s]+):[ \t]*(.*?)[ \t]*\r\n$/;
                }
                last;
            }
            while (length($self->{buf}) < $size + 2) {
                $self->fill($deadline) or do { $self->{error} //= 'eof in chunk'; return undef };
            }
            $body .= substr($self->{buf}, 0, $size, '');
            substr($self->{buf}, 0, 2, '');
            push @{ $r->{chunk_sizes} }, $size;
        }
        $r->{body} = $body;
    } elsif (defined $h{'content-length'}) {
        my $len = $h{'content-length'};
        $len =~ /^\d+$/ or do { $self->{error} = "bad content-length $len"; return undef };
        while (length($self->{buf}) < $len) {
            $self->fill($deadline) or do { $self->{error} //= 'eof in body'; return undef };
        }
        $r->{body} = substr($self->{buf}, 0, $len, '');
    } else {
        while (1) {
            my $n = $self->fill($deadline);
            last if defined $n && $n == 0;
            return undef unless defined $n;
        }
        $r->{body} = $self->{buf};
        $self->{buf} = '';
    }
    $r->{raw} = $head . $r->{body};
    return $r;
}

# Waits for the peer to close, then closes our end. Returns (closed, extra bytes received
# before the close).
sub wait_closed {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // $self->{timeout});
    while (1) {
        my $n = $self->fill($deadline);
        last unless defined $n;    # timeout
        last if $n == 0;
    }
    my $extra = $self->{buf};
    $self->{buf} = '';
    # the peer closed: close our end too, as a real client would (a server doing a lingering
    # close waits for it)
    $self->close if $self->{eof};
    return ($self->{eof} ? 1 : 0, $extra);
}

# Bytes received and not yet consumed.
sub pending { $_[0]{buf} }

sub close {
    my ($self) = @_;
    CORE::close($self->{sock}) if $self->{sock};
    $self->{sock} = undef;
}

sub DESTROY { $_[0]->close }

1;
