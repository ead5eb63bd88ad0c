#!/usr/bin/perl
# Streaming with bounded memory: a 100 MB upload and a 100 MB download through the proxy, and a
# client that stops reading, while the worker's resident memory (VmRSS) grows by less than 16 MB.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::MD5;
use Errno qw(EINTR EAGAIN);
use IO::Select;
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;

my $SIZE = 100_000_000;
my $LIMIT_KB = 16 * 1024;

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

my @workers = map { $_->{pid} } $t->workers;
is(scalar @workers, 1, 'one worker');

sub rss {
    my $sum = 0;
    for my $pid (@workers) { my $k = rss_kb($pid); return undef unless defined $k; $sum += $k }
    return $sum;
}
ok(defined rss(), 'worker VmRSS readable') or BAIL_OUT('cannot read the worker VmRSS');

# warm up: the first proxied requests allocate the pools and buffers
for (1 .. 3) {
    http_request($port, build_request('POST', '/upload', body => pattern(300_000)), timeout => 10);
    http_request($port, build_request('GET', '/bytes/300000'), timeout => 10);
}

my $block = pattern(62464);    # a multiple of the pattern period: blocks concatenate to pattern()

# --- 100 MB upload -----------------------------------------------------------------------------

{
    my $base = rss();
    my $peak = $base;
    my $c = http_connect($port, timeout => 60);
    $c->send("POST /upload HTTP/1.1\r\nHost: proxy.test\r\nContent-Length: $SIZE\r\n\r\n");
    my ($left, $i) = ($SIZE, 0);
    my $t0 = time;
    my $ok = 1;
    while ($left > 0) {
        my $k = $left < length $block ? $left : length $block;
        $ok = $c->send($k == length $block ? $block : substr($block, 0, $k)) or last;
        $left -= $k;
        if (++$i % 16 == 0) { my $r = rss(); $peak = $r if defined $r && $r > $peak }
    }
    ok($ok, 'upload: 100 MB sent') or diag($c->error);
    my $r = $c->read_response(timeout => 60);
    my $rr = rss();
    $peak = $rr if defined $rr && $rr > $peak;
    my $j = $r ? parse_json($r->{body}) : undef;
    is($r && $r->{status}, 200, 'upload: 200') or diag($r ? $r->{raw} : $c->error);
    is($j && $j->{body_length}, $SIZE, 'upload: the backend received 100 MB');
    is($j && $j->{body_md5}, pattern_md5($SIZE), 'upload: content intact');
    ok($peak - $base < $LIMIT_KB, sprintf('upload: worker RSS grew by %.1f MB (< 16 MB)', ($peak - $base) / 1024)) or diag("base $base kB, peak $peak kB");
    note("worker RSS: base $base kB, peak $peak kB");
    note(sprintf('upload took %.2fs', time - $t0));
}

# --- 100 MB download -----------------------------------------------------------------------------

{
    my $base = rss();
    my $peak = $base;
    my $c = http_connect($port, timeout => 60);
    $c->send(build_request('GET', "/download/$SIZE"));
    # the head
    my $deadline = time + 30;
    while (index($c->{buf}, "\r\n\r\n") < 0) { $c->fill($deadline) or last }
    my $end = index($c->{buf}, "\r\n\r\n");
    my $head = $end >= 0 ? substr($c->{buf}, 0, $end + 4, '') : '';
    like($head, qr{^HTTP/1\.1 200 }, 'download: 200');
    like($head, qr/\r\ncontent-length: $SIZE\r\n/i, 'download: content-length passed');
    my $md5 = Digest::MD5->new;
    my $got = 0;
    my $i = 0;
    $deadline = time + 60;
    while ($got < $SIZE) {
        if (length $c->{buf}) {
            $got += length $c->{buf};
            $md5->add($c->{buf});
            $c->{buf} = '';
            if (++$i % 64 == 0) { my $r = rss(); $peak = $r if defined $r && $r > $peak }
            next;
        }
        $c->fill($deadline) or last;
    }
    is($got, $SIZE, 'download: 100 MB received');
    is($md5->hexdigest, pattern_md5($SIZE), 'download: content intact');
    ok($peak - $base < $LIMIT_KB, sprintf('download: worker RSS grew by %.1f MB (< 16 MB)', ($peak - $base) / 1024)) or diag("base $base kB, peak $peak kB");
    note("worker RSS: base $base kB, peak $peak kB");
}

# --- a client that stops reading ----------------------------------------------------------------------

{
    my $base = rss();
    my $peak = $base;
    my $c = http_connect($port, timeout => 60);
    $c->send(build_request('GET', "/download/$SIZE"));
    my $deadline = time + 30;
    while (index($c->{buf}, "\r\n\r\n") < 0) { $c->fill($deadline) or last }
    like($c->{buf}, qr{^HTTP/1\.1 200 }, 'slow reader: response started');
    # stop reading for 2 s while the backend has 100 MB to send
    my $stop = time + 2;
    while (time < $stop) {
        my $r = rss();
        $peak = $r if defined $r && $r > $peak;
        sleep 0.1;
    }
    ok($peak - $base < $LIMIT_KB, sprintf('slow reader: worker RSS grew by %.1f MB while the client did not read (< 16 MB)', ($peak - $base) / 1024)) or diag("base $base kB, peak $peak kB");
    note("worker RSS: base $base kB, peak $peak kB");
    # then read a little more: the stream continues where it stopped
    my $end = index($c->{buf}, "\r\n\r\n");
    substr($c->{buf}, 0, $end + 4, '') if $end >= 0;
    $deadline = time + 10;
    while (length($c->{buf}) < 1_000_000) { $c->fill($deadline) or last }
    ok(length($c->{buf}) >= 1_000_000 && substr($c->{buf}, 0, 1_000_000) eq pattern(1_000_000),
       'slow reader: the body resumes intact when reading again');
    $c->close;
}

# --- a chunked stream: each piece goes on when it comes ------------------------------------------

{
    # The backend sends one chunk, then nothing for 3 s. The client must get that chunk long
    # before the rest (it used to wait in the output buffer for 64 KiB or the end).
    my $c = http_connect($port, timeout => 10);
    my $t0 = time;
    $c->send(build_request('GET', '/slow-chunks/3000'));
    my $deadline = $t0 + 10;
    $c->fill($deadline) while index($c->{buf}, "first\n") < 0 && time < $deadline;
    my $first = time - $t0;
    like($c->{buf}, qr{^HTTP/1\.1 200 .*\r\n6\r\nfirst\n\r\n}s, 'stream: the first chunk arrives');
    ok($first < 2, sprintf('stream: the first chunk arrives before the pause ends (%.2f s of 3)', $first));
    $c->fill($deadline) while index($c->{buf}, "0\r\n\r\n") < 0 && time < $deadline;
    like($c->{buf}, qr{5\r\nlast\n\r\n0\r\n\r\n$}, 'stream: then the rest and the end');
    $c->close;
}

# the gateway is still fine
my $r = http_request($port, build_request('GET', '/id'));
is($r && $r->{body}, 'a', 'gateway still serving');

done_testing();
