#!/usr/bin/perl
# A slow-reading client never counts against the upstream (issue 11 §1b): while the gateway stops
# reading the upstream because the client is behind, the upstream read timeout does not run. A
# client with a small receive buffer reads a large response at ~1 KiB/s for longer than the
# route's read timeout (1 s), then the rest: the download is whole, the backend stays up (max_fails
# 1, the default) and no upstream error is counted. A client that stops reading altogether is
# bounded by http.send_timeout (closed, still nothing counted against the backend).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_RCVBUF inet_aton pack_sockaddr_in);
use Time::HiRes qw(time sleep);
use Digest::MD5;
use GatewayTest;
use Backend;

my $be = Backend->new(name => 'a')->start;

my $t = GatewayTest->new;
$t->set_port('be_a', $be->port);
$t->write_conf(conf_head(1) . <<'EOF');
http:
  send_timeout: 5s
upstreams:
  app:
    servers: [{address: 127.0.0.1:%%be_a%%}]
    all_down: reject
routes:
  - name: main
    match: {path_prefix: /}
    upstream: app
    timeout: {read: 1s}
EOF
$t->start;
my $port = $t->port('http');
my $size = 8 * 1024 * 1024;    # far more than the socket buffers and the gateway's 64 KiB

# A client socket with a small receive buffer (set before connecting, so the window is small).
sub small_client {
    my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', 4096)) or die "SO_RCVBUF: $!";
    connect($s, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or die "connect: $!";
    binmode $s;
    return $s;
}

sub errors_counted {
    my $m = $t->metrics or return -1;
    return metric_sum($m, 'gateway_upstream_errors_total', { upstream => 'app' }) // 0;
}

sub server_health {
    my $s = $t->status_json or return '';
    my ($u) = grep { $_->{name} eq 'app' } @{ $s->{upstreams} // [] } or return '';
    return $u->{servers}[0]{health} // '';
}

# --- a slow reader completes ---------------------------------------------------------------------
{
    my $s = small_client();
    syswrite($s, build_request('GET', "/download/$size"));
    my ($got, $buf) = (0, '');
    # ~1 KiB/s for 2.5 s: more than twice the upstream read timeout (and well below send_timeout).
    my $slow_until = time + 2.5;
    while (time < $slow_until) {
        my $n = sysread($s, my $chunk, 1024);
        last unless $n;
        $buf .= $chunk;
        sleep 1;
    }
    # Then everything else, as fast as it comes.
    my $deadline = time + 30;
    my $sel = IO::Select->new($s);
    my ($head_end, $want);
    while (time < $deadline) {
        if (!defined $want && ($head_end = index($buf, "\r\n\r\n")) >= 0) {
            my ($cl) = substr($buf, 0, $head_end) =~ /\r\ncontent-length: (\d+)/i;
            $want = $head_end + 4 + ($cl // 0);
        }
        last if defined $want && length $buf >= $want;
        next unless $sel->can_read(1);
        my $n = sysread($s, my $chunk, 262144);
        last unless $n;
        $buf .= $chunk;
    }
    like($buf, qr{^HTTP/1\.1 200 }, 'slow reader: 200');
    my $body = defined $head_end ? substr($buf, $head_end + 4) : '';
    is(length $body, $size, 'slow reader: the whole body arrived');
    is(Digest::MD5::md5_hex($body), pattern_md5($size), 'slow reader: body intact');
    close $s;
    is(errors_counted(), 0, 'slow reader: no upstream error counted');
    unlike($t->error_log, qr/upstream timed out/, 'slow reader: no upstream timeout logged');
    is(server_health(), 'up', 'slow reader: the backend is still up');
    my $r = $t->get('/id');
    is($r && $r->{status}, 200, 'slow reader: the backend still serves (all_down: reject)');
}

# --- a client that stops reading: send_timeout, not the upstream's fault -------------------------------
{
    my $closed0 = $be->stats->{closed};
    my $s = small_client();
    syswrite($s, build_request('GET', "/download/$size"));
    my $t0 = time;
    # Never read: the gateway gives up after send_timeout (5 s) without progress and drops the
    # upstream connection, which the backend sees closed.
    ok(wait_until(sub { $be->stats->{closed} > $closed0 }, 15, 0.1), 'stalled client: cut');
    my $dt = time - $t0;
    ok($dt >= 4.5, sprintf('stalled client: by send_timeout (5 s), not the read timeout (1 s): %.1fs', $dt));
    is(errors_counted(), 0, 'stalled client: no upstream error counted');
    is(server_health(), 'up', 'stalled client: the backend is still up');
    close $s;
}

done_testing;
