#!/usr/bin/perl
# Streaming at scale: a 1 GiB download and a 1 GiB upload through the proxy while the worker's
# resident memory (VmRSS, sampled every 100 ms by a separate process) grows by less than 16 MiB
# over its level before the transfer. The download is checked byte for byte against the
# backend's pattern (Backend.pm /download/N), the upload by its length and MD5 at the backend
# (/upload reads the body streaming).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Select;
use IO::Socket::INET;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;

my $SIZE = 1 << 30;              # 1 GiB
my $LIMIT_KB = 16 * 1024;        # RSS growth bound
my $BLOCK = 1 << 20;             # client read/write size
my $STEP_TIMEOUT = 60;           # per transfer (this machine: about 1.5 s down, 3 s up)

my $be = Backend->new(name => 'a')->start;
my $t = GatewayTest->new;
$t->set_port('be_a', $be->port);
$t->write_conf(conf_head(1) . <<'EOF');
http:
  client_max_body_size: 0
upstreams:
  main:
    servers: [{address: 127.0.0.1:%%be_a%%}]
routes:
  - name: all
    match: {path_prefix: /}
    upstream: main
EOF
$t->start;
my $port = $t->port('http');
my @w = $t->workers;
is(scalar @w, 1, 'one worker');
my $wpid = $w[0]{pid};
ok(defined rss_kb($wpid), 'worker VmRSS readable') or BAIL_OUT('cannot read the worker VmRSS');

# The pattern from any offset: bytes [o, o + n) of the stream are substr($REF, o % 61, n) for
# n <= $BLOCK (the pattern has period 61 and /download/N concatenates whole periods).
my $REF = pattern($BLOCK + 61);

# --- RSS sampler: a child process reading the worker's VmRSS every 100 ms --------------------------

sub sampler_start {
    my ($pid) = @_;
    pipe(my $stop_r, my $stop_w) or die "pipe: $!";
    pipe(my $res_r, my $res_w) or die "pipe: $!";
    my $k = fork // die "fork: $!";
    if ($k == 0) {
        close $stop_w;
        close $res_r;
        my ($max, $n) = (0, 0);
        my $sel = IO::Select->new($stop_r);
        while (1) {
            my $r = rss_kb($pid);
            if (defined $r) { $n++; $max = $r if $r > $max }
            last if $sel->can_read(0.1);    # the parent closed the pipe: stop
        }
        syswrite($res_w, "$max $n\n");
        _exit(0);
    }
    close $stop_r;
    close $res_w;
    return { pid => $k, stop => $stop_w, res => $res_r };
}

# Returns (max VmRSS kB, number of samples).
sub sampler_stop {
    my ($s) = @_;
    close $s->{stop};
    my $line = readline($s->{res}) // '';
    waitpid($s->{pid}, 0);
    return $line =~ /^(\d+) (\d+)/ ? ($1, $2) : (undef, 0);
}

# Runs $code with a deadline; returns its result, or undef and sets $@ on timeout or error.
sub with_deadline {
    my ($secs, $code) = @_;
    my @r = eval {
        local $SIG{ALRM} = sub { die "timed out after ${secs}s\n" };
        alarm $secs;
        my @x = $code->();
        alarm 0;
        @x;
    };
    alarm 0;
    return wantarray ? @r : $r[0];
}

sub connect_gw {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 5)
        or die "connect: $!";
    binmode $s;
    return $s;
}

# Reads a response head; returns (head, bytes of the body already read).
sub read_head {
    my ($s) = @_;
    my $buf = '';
    my $e;
    while (($e = index($buf, "\r\n\r\n")) < 0) {
        my $n = sysread($s, $buf, 65536, length $buf);
        die 'connection closed before the response head' . (length $buf ? ": $buf" : '') . "\n" unless $n;
    }
    return (substr($buf, 0, $e + 4), substr($buf, $e + 4));
}

# warm up: the first proxied transfers allocate the worker's buffers and pools
for (1 .. 3) {
    http_request($port, build_request('POST', '/upload', body => pattern(1_000_000)), timeout => 10);
    http_request($port, build_request('GET', '/download/1000000'), timeout => 10);
}
sleep 0.3;

# --- 1 GiB download --------------------------------------------------------------------------------

{
    my $base = rss_kb($wpid);
    my $smp = sampler_start($wpid);
    my $t0 = time;
    my ($head, $got, $bad, $first_bad) = ('', 0, 0, undef);
    my $s = connect_gw();
    with_deadline($STEP_TIMEOUT, sub {
        syswrite($s, "GET /download/$SIZE HTTP/1.1\r\nHost: proxy.test\r\n\r\n") or die "write: $!\n";
        my $rest;
        ($head, $rest) = read_head($s);
        my $check = sub {
            my ($data) = @_;
            my $n = length $data;
            if ($data ne substr($REF, $got % 61, $n)) {
                $bad++;
                $first_bad //= $got;
            }
            $got += $n;
        };
        $check->($rest) if length $rest;
        my $buf = '';
        while ($got < $SIZE) {
            my $want = $SIZE - $got < $BLOCK ? $SIZE - $got : $BLOCK;
            my $n = sysread($s, $buf, $want);
            die "read: $!\n" unless defined $n;
            last if $n == 0;
            $check->($buf);
        }
    });
    my $err = $@;
    my $dt = time - $t0;
    my ($max, $samples) = sampler_stop($smp);
    is($err, '', 'download: finished in time without error');
    like($head, qr{^HTTP/1\.1 200 }, 'download: 200');
    like($head, qr/\r\ncontent-length: $SIZE\r\n/i, 'download: content-length passed');
    is($got, $SIZE, 'download: 1 GiB received');
    is($bad, 0, 'download: every byte matches the pattern')
        or diag("first mismatch in the block at offset $first_bad");
    ok($samples >= 3, "download: VmRSS sampled ($samples samples)");
    my $grow = ($max // 1e9) - $base;
    ok($grow < $LIMIT_KB, sprintf('download: worker VmRSS grew by %.1f MiB (< 16 MiB)', $grow / 1024))
        or diag("base $base kB, peak " . ($max // 'undef') . ' kB');
    diag(sprintf('1 GiB download: %.2fs (%.0f MiB/s), worker VmRSS base %d kB, peak %d kB (+%d kB), %d samples',
                 $dt, $got / 1048576 / ($dt || 1), $base, $max // 0, $grow, $samples));

    # the connection is still usable (the body was framed exactly)
    my $ok = with_deadline(10, sub {
        syswrite($s, "GET /id HTTP/1.1\r\nHost: proxy.test\r\n\r\n") or die "write: $!\n";
        my ($h, $body) = read_head($s);
        while (length $body < 1) { sysread($s, $body, 100, length $body) or last }
        return $h =~ /^HTTP\/1\.1 200 / && $body eq 'a';
    });
    ok($ok, 'download: the keep-alive connection serves the next request') or diag($@);
    close $s;
}

# --- 1 GiB upload ------------------------------------------------------------------------------------

{
    my $base = rss_kb($wpid);
    my $smp = sampler_start($wpid);
    my $t0 = time;
    my ($sent, $resp, $t_sent) = (0, '', undef);
    my $s = connect_gw();
    with_deadline($STEP_TIMEOUT, sub {
        syswrite($s, "POST /upload HTTP/1.1\r\nHost: proxy.test\r\nContent-Length: $SIZE\r\n\r\n")
            or die "write: $!\n";
        while ($sent < $SIZE) {
            my $k = $SIZE - $sent < $BLOCK ? $SIZE - $sent : $BLOCK;
            my $n = syswrite($s, $REF, $k, $sent % 61);
            die "write after $sent bytes: $!\n" unless defined $n;
            $sent += $n;
        }
        $t_sent = time;
        # the JSON answer of /upload (Content-Length)
        my ($head, $body) = read_head($s);
        my ($cl) = $head =~ /\r\ncontent-length: (\d+)\r\n/i;
        die "no content-length in: $head\n" unless defined $cl;
        while (length $body < $cl) { sysread($s, $body, 65536, length $body) or last }
        $resp = $head . $body;
    });
    my $err = $@;
    my $dt = time - $t0;
    my ($max, $samples) = sampler_stop($smp);
    close $s;
    is($err, '', 'upload: finished in time without error');
    is($sent, $SIZE, 'upload: 1 GiB sent');
    like($resp, qr{^HTTP/1\.1 200 }, 'upload: 200');
    my ($json) = $resp =~ /\r\n\r\n(.*)\z/s;
    my $j = parse_json($json);
    is($j && $j->{body_length}, $SIZE, 'upload: the backend received 1 GiB');
    my $t_md5 = time;
    is($j && $j->{body_md5}, pattern_md5($SIZE), 'upload: content intact (MD5 at the backend)');
    $t_md5 = time - $t_md5;
    ok($samples >= 3, "upload: VmRSS sampled ($samples samples)");
    my $grow = ($max // 1e9) - $base;
    ok($grow < $LIMIT_KB, sprintf('upload: worker VmRSS grew by %.1f MiB (< 16 MiB)', $grow / 1024))
        or diag("base $base kB, peak " . ($max // 'undef') . ' kB');
    diag(sprintf('1 GiB upload: %.2fs (body sent in %.2fs, %.0f MiB/s), worker VmRSS base %d kB, peak %d kB (+%d kB), '
                 . '%d samples; expected MD5 computed in %.2fs',
                 $dt, ($t_sent // time) - $t0, $sent / 1048576 / ((($t_sent // time) - $t0) || 1),
                 $base, $max // 0, $grow, $samples, $t_md5));
}

my $r = http_request($port, build_request('GET', '/id'));
is($r && $r->{body}, 'a', 'gateway still serving');
is_deeply([map { $_->{pid} } $t->workers], [$wpid], 'the same worker throughout');

done_testing();
