package H2Client;

# HTTP/2 clients for the tests (t/65-http2.t, t/66-http2-floods.t): the python3-h2 helpers of
# t/helpers/h2/ (run with /usr/bin/python3: the python3 on PATH may be a pyenv one without
# Debian's packages) and nghttp / h2load from Debian's nghttp2-client. Core Perl modules only.
#
#   plan skip_all => $why if my $why = H2Client::missing();
#   my $r = h2_request(port => $p, requests => [{path => '/x'}, ...]);   # h2req.py's JSON, decoded
#   my $f = h2_raw(port => $p, mode => 'rapid_reset', n => 100);       # h2raw.py's line as a hash
#   my $c = run_cmd({timeout => 30}, 'nghttp', '-nv', $url);            # {exit, out, err, timed_out}
#   my $s = h2load_summary($c->{out});    # {total, started, done, succeeded, failed, errored, timeout, 2xx, ...}

use strict;
use warnings;

use Exporter qw(import);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp ();
use JSON::PP ();
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(time sleep);

our @EXPORT = qw(h2_request h2_raw run_cmd start_cmd finish_cmd h2load_summary nghttp_frames
                 header_of headers_of);

our $PYTHON = '/usr/bin/python3';
our $HELPERS = File::Spec->catdir(dirname(__FILE__), '..', 'helpers', 'h2');

my %MISSING;
# Why the HTTP/2 tests cannot run here (undef when they can): the tools named in @what (default
# nghttp, h2load and python3-h2).
sub missing {
    my @what = @_ ? @_ : qw(nghttp h2load python3-h2);
    for my $w (@what) {
        my $why = $MISSING{$w} //= do {
            if ($w eq 'python3-h2') {
                -x $PYTHON ? (system($PYTHON, '-c', 'import h2.connection, hpack') == 0
                              ? '' : "$PYTHON cannot import h2 (Debian's python3-h2 is not installed)")
                           : "$PYTHON is missing";
            } else {
                (grep { -x "$_/$w" } split /:/, $ENV{PATH} // '')
                    ? '' : "$w is not installed (Debian's nghttp2-client)";
            }
        };
        return $why if length $why;
    }
    return undef;
}

# Runs @cmd to completion (stdout and stderr captured in files), killing it at the deadline.
# Returns {exit, signal, out, err, timed_out, secs}.
sub run_cmd {
    my $opt = ref $_[0] eq 'HASH' ? shift : {};
    my $job = start_cmd($opt, @_);
    return finish_cmd($job, $opt->{timeout} // 60);
}

# Starts @cmd in the background; finish_cmd($job, $timeout) waits for it.
sub start_cmd {
    my $opt = ref $_[0] eq 'HASH' ? shift : {};
    my @cmd = @_;
    my $dir = File::Temp->newdir('h2cmd-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{PIPE} = 'DEFAULT';
        if (defined $opt->{stdin}) { open STDIN, '<', $opt->{stdin} or _exit(126) }
        else { open STDIN, '<', '/dev/null' }
        open STDOUT, '>', "$dir/out" or _exit(126);
        open STDERR, '>', "$dir/err" or _exit(126);
        { no warnings qw(exec); exec { $cmd[0] } @cmd; }
        print STDERR "exec $cmd[0]: $!\n";
        _exit(127);
    }
    return { pid => $pid, dir => $dir, cmd => join(' ', @cmd), t0 => time };
}

sub finish_cmd {
    my ($job, $timeout) = @_;
    my $deadline = time + ($timeout // 60);
    my $timed_out = 0;
    while (1) {
        my $r = waitpid($job->{pid}, WNOHANG);
        last if $r == $job->{pid} || $r < 0;
        if (time > $deadline) {
            $timed_out = 1;
            kill 'KILL', $job->{pid};    # only the process we started
            waitpid($job->{pid}, 0);
            last;
        }
        sleep 0.02;
    }
    my $st = $?;
    my $slurp = sub { open my $fh, '<:raw', $_[0] or return ''; local $/; <$fh> // '' };
    return { exit => $timed_out ? -1 : $st >> 8, signal => $st & 127, timed_out => $timed_out,
             out => $slurp->("$job->{dir}/out"), err => $slurp->("$job->{dir}/err"),
             cmd => $job->{cmd}, secs => time - $job->{t0} };
}

# One connection of h2req.py: %spec as its SPEC (port, tls, requests, ...). Returns the decoded
# JSON, or {error => ...} when the helper itself failed.
sub h2_request {
    my (%spec) = @_;
    my $job = h2_request_start(%spec);
    return h2_request_finish($job, ($spec{timeout} // 20) + 10);
}

sub h2_request_start {
    my (%spec) = @_;
    my $tmp = File::Temp->new(TEMPLATE => 'h2spec-XXXXXX', TMPDIR => 1, SUFFIX => '.json');
    print $tmp JSON::PP->new->canonical->encode(\%spec);
    close $tmp;
    my $job = start_cmd($PYTHON, "$HELPERS/h2req.py", $tmp->filename);
    $job->{spec_file} = $tmp;    # kept until the helper is done
    return $job;
}

sub h2_request_finish {
    my ($job, $timeout) = @_;
    my $c = finish_cmd($job, $timeout // 40);
    my $r = eval { JSON::PP->new->decode($c->{out}) };
    return $r if ref $r eq 'HASH';
    return { error => "h2req.py failed (exit $c->{exit}" . ($c->{timed_out} ? ', timed out' : '')
                      . "): $c->{err}$c->{out}", responses => [] };
}

# h2raw.py --mode MODE ...: %a are its options (port, mode, n, size, path, tls, timeout, wait).
# Returns the key=value line as a hash (line => the whole line), or {error => ...}.
sub h2_raw {
    my (%a) = @_;
    my @args = ("$HELPERS/h2raw.py");
    for my $k (sort keys %a) {
        next if $k eq 'tls';
        push @args, "--$k", $a{$k};
    }
    push @args, '--tls' if $a{tls};
    my $c = run_cmd({ timeout => ($a{timeout} // 15) + ($a{wait} // 0) + 15 }, $PYTHON, @args);
    my ($line) = grep { /^mode=/ } split /\n/, $c->{out};
    return { error => "h2raw.py failed (exit $c->{exit}): $c->{err}$c->{out}", line => '' } unless $line;
    my %h = map { split /=/, $_, 2 } split ' ', $line;
    $h{line} = $line;
    $h{stderr} = $c->{err};
    return \%h;
}

# The counts of h2load's "requests:" line and its status codes: {total, started, done, succeeded,
# failed, errored, timeout, 2xx, 3xx, 4xx, 5xx}; undef if there is no such line.
sub h2load_summary {
    my ($out) = @_;
    my ($line) = $out =~ /^requests: (.*)$/m or return undef;
    my %s = map { my ($n, $k) = split ' ', $_; ($k => $n) } split /,\s*/, $line;
    if (my ($codes) = $out =~ /^status codes: (.*)$/m) {
        for (split /,\s*/, $codes) { my ($n, $k) = split ' '; $s{$k} = $n }
    }
    return \%s;
}

# The frames of `nghttp -v` output: [{dir => recv|send, type => HEADERS, flags => 0x05 (a
# number), stream_id, length, headers => [[name, value], ...] (for HEADERS, the lines printed
# after it)}]. (A field sent as never indexed - the gateway's x-request-id - is printed
# "(stream_id=N, sensitive)".)
sub nghttp_frames {
    my ($out) = @_;
    my (@f, %pending);
    for my $l (split /\n/, $out) {
        # (a DATA frame's line may follow the body bytes nghttp printed without -n)
        if ($l =~ /\[\s*[\d.]+\] (recv|send) (\w+) frame <length=(\d+), flags=0x([0-9a-f]+), stream_id=(\d+)>/) {
            my $f = { dir => $1, type => $2, length => $3, flags => hex($4), stream_id => $5, headers => [] };
            # nghttp prints a received block's fields before the frame's own line
            $f->{headers} = delete $pending{$5} // [] if $1 eq 'recv' && $2 eq 'HEADERS';
            push @f, $f;
        } elsif ($l =~ /^\[\s*[\d.]+\] recv \(stream_id=(\d+)(?:, sensitive)?\) (:?[^:\s]+): (.*)$/) {
            push @{ $pending{$1} }, [$2, $3];
        }
    }
    return \@f;
}

# Values of a field in [[name, value], ...]: headers_of($list, $name) (all), header_of (joined).
sub headers_of {
    my ($list, $name) = @_;
    return map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $list || [] };
}

sub header_of {
    my @v = headers_of(@_);
    return @v ? join(', ', @v) : undef;
}

1;
