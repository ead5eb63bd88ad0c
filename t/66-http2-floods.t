#!/usr/bin/perl
# HTTP/2 floods and budgets (issue 17), with the real binary and hand-packed frames from
# t/helpers/h2/h2raw.py (python3-h2's hpack for the header blocks). Each flood must be answered
# by GOAWAY (ENHANCE_YOUR_CALM 0xb, or the fitting protocol error) and the close of that
# connection, counted in gateway_http2_floods_total{kind} on the admin listener, with an info
# line in the error log; the worker keeps serving (a slow stream on another connection, opened
# before the flood, finishes; new h2 and HTTP/1.1 requests are answered; the worker pid is the
# same) and its VmRSS stays bounded over repeated rounds of every flood.
#   rapid_reset     100 HEADERS + RST_STREAM pairs, max_resets_per_minute 50
#   continuation    20 CONTINUATION frames, max_continuation_frames 4 (a plain close allowed)
#   header_count    80 fields, max_headers 30
#   header_size     8 fields of 1000 bytes, max_header_list_size 4k; a 60000-byte literal
#   control_frames  10,000 PING, SETTINGS, WINDOW_UPDATE, PRIORITY, empty DATA (each kind)
#   HPACK           a dynamic table size update above 4096 (COMPRESSION_ERROR); a literal that
#                   claims 1 MB (COMPRESSION_ERROR or header_size)
# and the budgets that are not floods: a normal client's few control frames are fine; streams
# beyond an acknowledged max_concurrent_streams end the connection (GOAWAY PROTOCOL_ERROR);
# idle_timeout ends an idle connection with GOAWAY.
# H2_TEST_ONLY=REGEX runs only the subtests whose name matches.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;
use H2Client;

if (my $why = H2Client::missing('python3-h2')) { plan skip_all => $why }

my $backend = Backend->new(name => 'be')->start;
my $t = GatewayTest->new;
$t->set_port('be', $backend->port);
my $TLS = has_modules('tls') && do { require TestCerts; TestCerts::available() };
my $tls_listener = '';
if ($TLS) {
    my $certs = TestCerts->new($t->dir);
    $certs->ca('ca');
    $certs->cert('srv', ca => 'ca', cn => 'localhost', san => 'DNS:localhost,IP:127.0.0.1');
    $tls_listener = "  - address: 127.0.0.1:%%https%%\n    tls: {certificates: [{cert: " . $certs->path('srv')
                  . ", key: " . $certs->path('srv', 'key') . "}]}\n    http2: true\n";
}
$t->write_conf(<<'EOF' =~ s/^#TLS\n/$tls_listener/mr);
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
shutdown_timeout: 5s
http2:
  max_concurrent_streams: 10
  max_resets_per_minute: 50
  max_continuation_frames: 4
  max_headers: 30
  max_header_list_size: 4k
  idle_timeout: 2s
listeners:
  - address: 127.0.0.1:%%http%%
    http2: true
  - {address: 127.0.0.1:%%admin%%, admin: true}
#TLS
upstreams:
  be: {servers: [{address: 127.0.0.1:%%be%%}]}
routes:
  - {name: hello, match: {path: /hello}, return: {status: 200, body: "hello\n"}}
  - {name: be, match: {path_prefix: /be/}, strip_prefix: /be, upstream: be}
EOF
$t->start;
my $port = $t->port('http');
my ($worker) = map { $_->{pid} } $t->workers;
ok($worker, "one worker ($worker)");

sub case {
    my ($name, $code) = @_;
    return if defined $ENV{H2_TEST_ONLY} && $name !~ /$ENV{H2_TEST_ONLY}/;
    subtest($name, $code);
}

sub raw { h2_raw(port => $port, timeout => 10, path => '/hello', @_) }
sub floods { my $m = $t->metrics // { samples => [] }; metric_sum($m, 'gateway_http2_floods_total', { kind => $_[0] }) // 0 }
sub rss { Backend::rss_kb($worker) // 0 }

# One flood: %f = (mode, n, size, path, kind, codes => [acceptable GOAWAY codes], close_ok => a
# plain close without GOAWAY is acceptable, what). Checks the answer, the counter, the log line,
# and that the worker kept serving. With quiet => 1 only returns whether the answer was right.
my $FLOOD_NO = 0;
sub flood {
    my (%f) = @_;
    my $what = $f{what} // $f{mode};
    my $kind = $f{kind};
    my $before = floods($kind);
    my $log0 = length $t->error_log;
    my $slow;
    unless ($f{quiet}) {
        # a slow stream on another connection, in flight while the flood comes
        my $tag = ++$FLOOD_NO;
        $slow = H2Client::h2_request_start(port => $port, authority => 'h2.test', timeout => 20,
                                           requests => [{ path => "/be/slow-head/1000?flood=$tag" }]);
        wait_until(sub { $backend->count_requests(qr{^/slow-head/1000\?flood=$tag$}) }, 10)
            or diag('the slow stream did not reach the backend');
    }
    my %args = (mode => $f{mode});
    $args{$_} = $f{$_} for grep { defined $f{$_} } qw(n size path);
    my $r = raw(%args);
    my %codes = map { $_ => 1 } @{ $f{codes} };
    my $answered = ($r->{goaway} ne 'none' && $codes{ $r->{goaway} })
                || ($f{close_ok} && $r->{goaway} eq 'none' && $r->{closed} =~ /^(fin|rst)$/);
    my $closed = $r->{closed} =~ /^(fin|rst)$/;
    return $answered && $closed if $f{quiet};

    ok($answered, "$what: GOAWAY " . join('|', map { sprintf '0x%x', $_ } @{ $f{codes} })
                  . ($f{close_ok} ? ' or a close' : '') . " ($r->{line})") or diag($r->{error} // $r->{stderr});
    ok($closed, "$what: the connection is closed");
    my $n;
    ok(wait_until(sub { ($n = floods($kind)) > $before }, 5),
       "$what: gateway_http2_floods_total{kind=\"$kind\"} counted (" . ($n // 0) . ")");
    (my $re = $kind) =~ s/_/[_ -]/g;
    ok(wait_until(sub { substr($t->error_log, $log0) =~ /\[info\][^\n]*$re/i }, 5),
       "$what: an [info] line naming the $kind flood in the error log")
        or diag(substr($t->error_log, $log0));
    my $s = H2Client::h2_request_finish($slow, 30);
    my $sr = ($s->{responses} || [])->[0] || {};
    is($sr->{status}, 200, "$what: a slow stream on another connection finished") or diag($s->{error});
    my $ok = raw(mode => 'normal', n => 1);
    is($ok->{ok}, 1, "$what: a new h2 connection is served ($ok->{line})");
    my $h1 = http_get($port, '/hello');
    is($h1 && $h1->{status}, 200, "$what: HTTP/1.1 is served");
    is(join(',', map { $_->{pid} } $t->workers), $worker, "$what: the same worker (no crash)");
    return $answered;
}

my @FLOODS = (
    { mode => 'rapid_reset', n => 100, kind => 'rapid_reset', codes => [0xb], what => 'rapid reset (100 HEADERS+RST_STREAM, limit 50/min)' },
    { mode => 'continuation', n => 20, kind => 'continuation', codes => [0xb, 0x1], close_ok => 1, what => 'CONTINUATION flood (20 frames, limit 4)' },
    { mode => 'header_count', n => 80, kind => 'header_count', codes => [0xb], what => 'header count (80 fields, limit 30)' },
    { mode => 'header_size', size => 8000, kind => 'header_size', codes => [0xb], what => 'header size (8 x 1000 bytes, limit 4k)' },
    { mode => 'hpack_huge', size => 60000, n => 3, kind => 'header_size', codes => [0xb, 0x9], what => 'one 60000-byte literal (limit 4k)' },
    (map { { mode => $_, n => 10000, kind => 'control_frames', codes => [0xb], what => "10,000 $_ frames",
             $_ eq 'empty_data' ? (path => '/be/upload') : () } } qw(ping settings window_update priority empty_data)),
);

case 'a normal client\'s few control frames are fine' => sub {
    my $r = raw(mode => 'normal', n => 5);
    is($r->{ok}, 5, "5 requests answered ($r->{line})");
    is($r->{goaway}, 'none', 'no GOAWAY');
    is($r->{closed}, 'no', 'the connection stays open');
    is(floods($_), 0, "no flood counted (kind $_)") for qw(rapid_reset control_frames);
};

my $rss0 = rss();
note("worker VmRSS before the floods: $rss0 kB");

case $_->{what} => do { my $f = $_; sub { flood(%$f) } } for @FLOODS;

case 'HPACK abuse' => sub {
    my $r = raw(mode => 'hpack_table_size', size => 65536);
    is($r->{goaway}, 9, "a dynamic table size update to 65536 (above the 4096 advertised): GOAWAY COMPRESSION_ERROR ($r->{line})");
    like($r->{closed}, qr/^(fin|rst)$/, '... and the connection is closed');
    $r = raw(mode => 'hpack_huge', size => 1_000_000, n => 3);
    ok($r->{goaway} eq '9' || $r->{goaway} eq '11', "a literal claiming 1 MB: GOAWAY COMPRESSION_ERROR or ENHANCE_YOUR_CALM ($r->{line})");
    like($r->{closed}, qr/^(fin|rst)$/, '... and the connection is closed');
    is(raw(mode => 'normal', n => 1)->{ok}, 1, 'the worker still serves h2');
    is(join(',', map { $_->{pid} } $t->workers), $worker, 'the same worker (no crash)');
};

case 'max_concurrent_streams: a client past the limit it acknowledged loses the connection' => sub {
    # Streams beyond the limit before the client acknowledged the SETTINGS are refused one by
    # one (t/65, "many streams"); past a limit it acknowledged, the client breaks the protocol:
    # nghttp2 answers GOAWAY(PROTOCOL_ERROR), as RFC 9113 5.1.2 allows (nghttpd does the same).
    my $r = raw(mode => 'concurrent', n => 15, path => '/be/slow-head/1000', timeout => 15);
    is($r->{goaway}, '1', "GOAWAY PROTOCOL_ERROR ($r->{line})");
    like($r->{closed}, qr/^(fin|rst)$/, '... and the connection is closed');
    is(raw(mode => 'normal', n => 1)->{ok}, 1, 'the worker still serves h2');
    is(join(',', map { $_->{pid} } $t->workers), $worker, 'the same worker (no crash)');
};

case 'PRIORITY frames and frames on closed streams (RFC 9113 5.1, 5.3.1, 6.3)' => sub {
    # nghttp2 leaves these to the gateway with RFC 7540 priorities off (frame_scanner.h).
    my $r = raw(mode => 'priority_zero', timeout => 5);
    is($r->{goaway}, '1', "PRIORITY on stream 0: GOAWAY PROTOCOL_ERROR ($r->{line})");
    like($r->{closed}, qr/^(fin|rst)$/, '... and the connection is closed');
    $r = raw(mode => 'priority_self', timeout => 5);
    is($r->{goaway}, '1', "PRIORITY making a stream depend on itself: GOAWAY PROTOCOL_ERROR ($r->{line})");
    like($r->{closed}, qr/^(fin|rst)$/, '... and the connection is closed');
    for my $m (qw(data_after_reset data_after_close)) {
        $r = raw(mode => $m, timeout => 5);
        like($r->{rst_codes}, qr/(^|,)5(,|$)/, "$m: RST_STREAM STREAM_CLOSED ($r->{line})");
        is($r->{goaway}, 'none', "$m: no GOAWAY");
        is($r->{closed}, 'no', "$m: the connection stays open");
        ok($r->{ok} >= 1 && $r->{statuses} eq '200', "$m: the next stream is answered");
    }
    $r = raw(mode => 'data_after_server_reset', n => 5, path => '/hello', timeout => 5);
    is($r->{rst_codes}, '1', "DATA that crossed the gateway's own RST_STREAM: ignored ($r->{line})");
    is($r->{goaway}, 'none', '... no GOAWAY');
    is($r->{closed}, 'no', '... the connection stays open');
    ok($r->{ok} >= 1, '... and the next stream is answered');
    $r = raw(mode => 'normal', n => 2);
    is($r->{ok}, 2, "PRIORITY frames of a normal client are fine ($r->{line})");
    is($r->{goaway}, 'none', '... no GOAWAY');
};

case 'idle_timeout: GOAWAY and close' => sub {
    my $r = raw(mode => 'idle', wait => 8, timeout => 12);
    is($r->{ok}, 1, "the request is answered ($r->{line})");
    is($r->{goaway}, 0, 'then, idle, GOAWAY NO_ERROR');
    is($r->{closed}, 'fin', 'and the connection is closed');
    ok($r->{elapsed} >= 1.8 && $r->{elapsed} < 6, "after about idle_timeout 2s ($r->{elapsed} s)");
};

case 'floods over TLS (ALPN h2)' => sub {
    plan skip_all => 'gatewayd without tls or no openssl command' unless $TLS;
    my $tp = $t->port('https');
    for my $f ({ mode => 'rapid_reset', n => 100, kind => 'rapid_reset', code => 0xb },
               { mode => 'header_count', n => 80, kind => 'header_count', code => 0xb },
               { mode => 'ping', n => 10000, kind => 'control_frames', code => 0xb },
               { mode => 'hpack_table_size', size => 65536, kind => undef, code => 0x9 }) {
        my $before = $f->{kind} ? floods($f->{kind}) : 0;
        my %a = (mode => $f->{mode}, tls => 1, port => $tp);
        $a{$_} = $f->{$_} for grep { defined $f->{$_} } qw(n size);
        my $r = h2_raw(timeout => 10, path => '/hello', %a);
        is($r->{goaway}, $f->{code}, "TLS, $f->{mode}: GOAWAY $f->{code} ($r->{line})") or diag($r->{error} // '');
        like($r->{closed}, qr/^(fin|rst)$/, "TLS, $f->{mode}: closed");
        ok(wait_until(sub { floods($f->{kind}) > $before }, 5), "TLS, $f->{mode}: counted as $f->{kind}") if $f->{kind};
    }
    my $ok = h2_raw(mode => 'normal', n => 2, tls => 1, port => $tp, path => '/hello', timeout => 10);
    is($ok->{ok}, 2, "TLS: a normal client is served ($ok->{line})");
    is(join(',', map { $_->{pid} } $t->workers), $worker, 'the same worker (no crash)');
};

case 'the worker\'s memory stays bounded' => sub {
    my $rss1 = rss();
    # five more rounds of every flood, and 20 more header blocks of each abuse kind
    my $bad = 0;
    for my $round (1 .. 5) {
        for my $f (@FLOODS) { flood(%$f, quiet => 1) or $bad++ }
        raw(mode => 'hpack_huge', size => 1_000_000, n => 3);
        raw(mode => 'hpack_table_size', size => 65536);
    }
    is($bad, 0, 'every flood of five more rounds answered and closed');
    my $rss2 = rss();
    note("worker VmRSS: $rss0 kB before, $rss1 kB after one round, $rss2 kB after six");
    ok($rss1 - $rss0 < 32 * 1024, "one round of floods: VmRSS grew by less than 32 MiB (" . ($rss1 - $rss0) . " kB)");
    ok($rss2 - $rss1 < 8 * 1024, "five more rounds: VmRSS grew by less than 8 MiB (" . ($rss2 - $rss1) . " kB)");
    is(join(',', map { $_->{pid} } $t->workers), $worker, 'the same worker throughout');
    is(raw(mode => 'normal', n => 3)->{ok}, 3, 'and it serves h2');
};

done_testing;
