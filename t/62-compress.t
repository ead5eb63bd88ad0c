#!/usr/bin/perl
# Response compression (issue 16, the compress module), with the real binary, a real backend and
# the real decoders (gzip -dc, brotli -dc, zstd -dc: every compressed body is decoded by them and
# compared byte for byte with what the backend sent):
#   1. gzip, br and zstd, for a body of known length, a chunked one and a close-delimited one;
#   2. negotiation: q-values, identity;q=0, *;q=0, no field, unknown codings, the server's order
#      for equal weights, x-gzip;
#   3. thresholds and types: min_length (still Vary), unknown length, parameters in Content-Type;
#   4. skips: HEAD, 204, 304, 206 / Content-Range, already encoded, no-transform,
#      text/event-stream, application/grpc;
#   5. fields: Vary (merged, never duplicated), ETag weakened, Content-Length gone, chunked on
#      HTTP/1.1, close-delimited for an HTTP/1.0 client;
#   6. a chunked upstream's body with trailers; an upstream that closes mid-body (the client never
#      gets a complete-looking response);
#   7. the BREACH guard and its counter; breach_guard: false;
#   8. per route: off, a map (algorithms, levels: the gzip header's XFL byte), on;
#   9. `gatewayd -t` errors at FILE:LINE:COL;
#  10. the metrics (responses, input and output bytes by coding);
#  11. a 100 MB response streamed through gzip, decoded as it arrives, the worker's RSS bounded;
#  12. the memory bound: compress.max_memory with many responses in flight at once (the backend
#      holds every body halfway, the clients read nothing until then); clients that leave give
#      their encoders back;
#  13. the bound holds for a Brotli encoder taken from the pool (its state is remade).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Compress::Raw::Zlib ();
use Digest::MD5 qw(md5_hex);
use IO::Select;
use IO::Compress::Gzip qw(gzip $GzipError);
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;

require_modules('compress');
for my $tool (qw(gzip brotli zstd)) {
    plan(skip_all => "the $tool command-line tool is missing (auto/install-deps test)")
        unless grep { -x "$_/$tool" } split /:/, $ENV{PATH};
}

my $t = GatewayTest->new;
my $tmp = $t->dir;

# ---------------------------------------------------------------------------------------------
# bodies: compressible text, deterministic (words drawn by an LCG), 1 MiB of it; bodies are its
# first N bytes

my @WORDS = qw(the gateway compresses responses with gzip brotli zstd as they stream through a
               worker pool bounded memory client accepts encoding weight vary etag length chunked
               upstream route policy default level window header field value json html text cache
               origin cookie secret token request response body server proxy listener admin metric);
my $TEXT = do {
    my ($x, $s) = (12345, '');
    while (length $s < (1 << 20) + 70000) {
        $x = ($x * 1103515245 + 12345) % 2147483648;
        $s .= $WORDS[($x >> 8) % @WORDS] . (($x >> 4) % 11 ? ' ' : ".\n");
    }
    $s;
};
sub text { substr($TEXT, 0, $_[0]) }

# The 100 MB stream: block $i of 64 KiB is its number and a slice of the text.
sub big_block { sprintf("%011d\n", $_[0]) . substr($TEXT, ($_[0] * 7919) % 65536, 65536 - 12) }

my $GZ_BODY = do { my $in = text(5000); my $out; gzip(\$in => \$out) or die $GzipError; $out };

# ---------------------------------------------------------------------------------------------
# the backend: GET .../c?len=N&mode=cl|chunked|close&status=S&type=T&h=Name:Value&hold=FILE
# (any path ending in /c; values %-encoded). The body is text(len) (gz=1: that text gzipped),
# sent with Content-Length (cl), chunked in 16 KiB pieces, or until the connection closes;
# hold=FILE: after the first half, wait until FILE exists (at most 30 s). big=N: N blocks of
# big_block, chunked.

sub unescape { my $v = shift; $v =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge; $v }

sub answer {
    my ($c, $req) = @_;
    return undef unless $req->{path} =~ m{(?:^|/)c$};
    my (%q, @h);
    for my $kv (split /&/, $req->{query}) {
        my ($k, $v) = split /=/, $kv, 2;
        $v = unescape($v // '');
        if ($k eq 'h') { my ($n, $x) = split /:\s*/, $v, 2; push @h, [$n, $x] }
        else { $q{$k} = $v }
    }
    $c->read_body($req);
    my $status = $q{status} // 200;
    my $mode = $q{mode} // 'cl';
    my $type = $q{type} // 'text/html';
    my $nobody = $status == 204 || $status == 304;
    my $head = "HTTP/1.1 $status X\r\nX-Backend: be\r\n";
    $head .= "Content-Type: $type\r\n" unless $type eq 'none';
    $head .= "$_->[0]: $_->[1]\r\n" for @h;
    if ($q{big}) {
        $c->write_all($head . "Transfer-Encoding: chunked\r\n\r\n");
        for my $i (0 .. $q{big} - 1) {
            $c->write_all(sprintf("%x\r\n", 65536) . big_block($i) . "\r\n");
        }
        $c->write_all("0\r\n\r\n");
        return 1;
    }
    my $body = $nobody ? '' : $q{gz} ? $GZ_BODY : text($q{len} // 0);
    if ($mode eq 'short') {    # Content-Length N, N/2 bytes, then the connection closes
        $c->write_all($head . "Content-Length: " . length($body) . "\r\n\r\n" . substr($body, 0, length($body) / 2));
        sleep 0.05;
        return 0;
    }
    if ($mode eq 'cl') { $head .= "Content-Length: " . length($body) . "\r\n" unless $nobody }
    elsif ($mode eq 'chunked') { $head .= "Transfer-Encoding: chunked\r\n" }
    else { $head .= "Connection: close\r\n" }
    $c->write_all("$head\r\n");
    return 1 if $nobody || $req->{method} eq 'HEAD';
    my @pieces;
    for (my $off = 0; $off < length $body; $off += 16384) { push @pieces, substr($body, $off, 16384) }
    my $half = int(@pieces / 2);
    for my $i (0 .. $#pieces) {
        if (defined $q{hold} && $i == $half) {
            my $until = time + 30;
            sleep 0.01 while !-e $q{hold} && time < $until;
        }
        $c->write_all($mode eq 'chunked' ? sprintf("%x\r\n", length $pieces[$i]) . $pieces[$i] . "\r\n" : $pieces[$i]);
        sleep 0.001 if $mode ne 'cl';    # separate reads at the gateway: a streamed body's pieces
    }
    $c->write_all("0\r\n\r\n") if $mode eq 'chunked';
    return $mode eq 'close' ? 0 : 1;
}

my $backend = Backend->new(name => 'be', handler => \&answer)->start;
$t->set_port('be', $backend->port);

$t->write_conf(<<'CONF');
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
upstreams:
  be:
    servers: [{address: 127.0.0.1:%%be%%}]
compress:
  default: {algorithms: [br, zstd, gzip], min_length: 1k, types: [text/*, application/json, application/javascript, image/svg+xml]}
routes:
  - {name: off, match: {path_prefix: /off/}, upstream: be, compress: off}
  - {name: gz9, match: {path_prefix: /gz9/}, upstream: be, compress: {algorithms: [gzip], levels: {gzip: 9}}}
  - {name: gz1, match: {path_prefix: /gz1/}, upstream: be, compress: {algorithms: [gzip, br], levels: {gzip: 1}, min_length: 0}}
  - {name: nb, match: {path_prefix: /nb/}, upstream: be, compress: {breach_guard: false}}
  - {name: wide, match: {path_prefix: /wide/}, strip_prefix: /wide, upstream: be, compress: {types: [text/*, application/*]}}
  - {name: on, match: {path_prefix: /on/}, upstream: be, compress: on}
  - {name: all, match: {path_prefix: /}, upstream: be}
CONF
$t->start;
my $port = $t->port('http');

# ---------------------------------------------------------------------------------------------
# helpers

sub q_of {
    my (%o) = @_;
    return join '&', map {
        my $k = $_;
        map { my $v = $_; $v =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge; "$k=$v" }
            ref $o{$k} ? @{ $o{$k} } : ($o{$k})
    } sort keys %o;
}

# GET (or $method) PATH?QUERY with these request fields ([[name, value], ...]); the response.
sub req {
    my ($path, $fields, %o) = @_;
    my $method = $o{method} // 'GET';
    my $proto = $o{proto} // 'HTTP/1.1';
    my $raw = "$method $path $proto\r\nHost: compress.test\r\n";
    $raw .= "$_->[0]: $_->[1]\r\n" for @{ $fields || [] };
    $raw .= "Connection: close\r\n" if $proto eq 'HTTP/1.1' && $o{close};
    $raw .= "\r\n";
    my $c = http_connect($port, timeout => 20) or return undef;
    $c->send($raw) or return undef;
    my $r = $c->read_response(head => $method eq 'HEAD', timeout => 20);
    $c->close;
    return $r;
}
sub ae { [['Accept-Encoding', $_[0]]] }
sub ce { my $r = shift; return 'no response' unless $r; $r->{headers}{'content-encoding'} // 'none' }
sub fields_of { my ($r, $n) = @_; $r ? grep { lc $_->[0] eq $n } @{ $r->{header_list} } : () }
sub field { my ($r, $n) = @_; my @v = map { $_->[1] } fields_of($r, $n); @v ? join(' | ', @v) : undef }

# The body as the client sees it after decoding with the real tool (undef if the tool fails).
my $nfile = 0;
sub decode {
    my ($coding, $bytes) = @_;
    return $bytes if $coding eq 'none';
    my $tool = { gzip => 'gzip', br => 'brotli', zstd => 'zstd' }->{$coding} or return undef;
    my $f = "$tmp/body." . ++$nfile;
    spew($f, $bytes);
    open my $fh, '-|', $tool, '-dc', $f or return undef;
    binmode $fh;
    local $/;
    my $out = <$fh> // '';
    close $fh;
    unlink $f;
    return $? == 0 ? $out : undef;
}

# Checks that $r is compressed with $coding and decodes to $want (byte for byte).
sub decodes_to {
    my ($r, $coding, $want, $what) = @_;
    is(ce($r), $coding, "$what: Content-Encoding $coding");
    my $got = $r ? decode($coding, $r->{body}) : undef;
    ok(defined $got && $got eq $want, "$what: the decoded body equals the original ("
       . length($want) . " bytes; got " . (defined $got ? length $got : 'a decoder failure') . ")");
}

sub metrics_now { $t->metrics or die "no /metrics" }
sub msum { my ($m, $name, %l) = @_; metric_sum($m, $name, \%l) // 0 }

# ---------------------------------------------------------------------------------------------

subtest 'gzip, br and zstd decode to the original bytes (length, chunked, close-delimited)' => sub {
    my $n = 200_000;
    for my $coding (qw(gzip br zstd)) {
        for my $mode (qw(cl chunked close)) {
            my $r = req('/c?' . q_of(len => $n, mode => $mode), ae($coding));
            ok($r && $r->{status} == 200, "$coding/$mode: 200") or diag($r ? $r->{head} : 'no response');
            decodes_to($r, $coding, text($n), "$coding/$mode");
            ok($r && length($r->{body}) < $n / 2, "$coding/$mode: compressed (" . ($r ? length $r->{body} : '-') . " bytes)");
        }
    }
    # a small streamed body of several pieces, and a body of one byte
    my $r = req('/c?' . q_of(len => 40_000, mode => 'chunked'), ae('gzip'));
    decodes_to($r, 'gzip', text(40_000), 'small chunked');
    $r = req('/c?' . q_of(len => 1, mode => 'chunked'), ae('br'));
    decodes_to($r, 'br', text(1), 'one byte, chunked');
    $r = req('/c?' . q_of(len => 0, mode => 'chunked'), ae('zstd'));
    decodes_to($r, 'zstd', '', 'empty, chunked');
};

subtest 'negotiation' => sub {
    my $path = '/c?' . q_of(len => 5000);
    my @cases = (
        ['br;q=0.5, gzip;q=0.8', 'gzip', 'q-values: gzip;q=0.8 over br;q=0.5'],
        ['gzip;q=0.8, zstd;q=0.9, br;q=0.1', 'zstd', 'q-values: zstd;q=0.9'],
        ['identity;q=0', 'none', 'identity;q=0 alone: nothing offered is acceptable'],
        ['*;q=0', 'none', '*;q=0'],
        ['compress, deflate, x-unknown', 'none', 'unknown codings only'],
        ['', 'none', 'an empty field'],
        ['gzip, br', 'br', 'equal weights: the server\'s order (br first)'],
        ['gzip, zstd', 'zstd', 'equal weights: the server\'s order (zstd before gzip)'],
        ['gzip;q=0.7, zstd;q=0.7, br;q=0.7', 'br', 'equal weights below 1: the server\'s order'],
        ['x-gzip', 'gzip', 'x-gzip is gzip'],
        ['GZIP', 'gzip', 'names are case-insensitive'],
        ['*', 'br', '*: the server\'s first'],
        ['br;q=0, *', 'zstd', 'br;q=0 and *: the next one'],
        ['br;q=0, zstd;q=0, gzip;q=0.001', 'gzip', 'the lowest non-zero weight still counts'],
        ['gzip;q=2, br;q=0.5', 'br', 'a weight that does not parse: the element is ignored'],
    );
    for my $c (@cases) {
        my ($value, $want, $what) = @$c;
        my $r = req($path, ae($value));
        is(ce($r), $want, "$what ($value)");
        is(field($r, 'vary'), 'Accept-Encoding', "$what: Vary: Accept-Encoding");
        is(decode(ce($r), $r ? $r->{body} : ''), text(5000), "$what: the body") if $r;
    }
    my $r = req($path, []);
    is(ce($r), 'none', 'no Accept-Encoding: not compressed');
    is(field($r, 'vary'), 'Accept-Encoding', 'no Accept-Encoding: still Vary');
    is($r && $r->{headers}{'content-length'}, 5000, 'no Accept-Encoding: Content-Length kept');
    # several fields are one list
    $r = req($path, [['Accept-Encoding', 'gzip;q=0.5'], ['Accept-Encoding', 'zstd;q=0.6']]);
    is(ce($r), 'zstd', 'two Accept-Encoding fields are one list');
};

subtest 'thresholds and types' => sub {
    my $r = req('/c?' . q_of(len => 1023), ae('gzip'));
    is(ce($r), 'none', 'Content-Length 1023 < min_length 1k: not compressed');
    is(field($r, 'vary'), 'Accept-Encoding', 'below min_length: still Vary');
    is($r && $r->{headers}{'content-length'}, 1023, 'below min_length: Content-Length kept');
    is($r && $r->{body}, text(1023), 'below min_length: the body');
    $r = req('/c?' . q_of(len => 1024), ae('gzip'));
    decodes_to($r, 'gzip', text(1024), 'Content-Length 1024 = min_length');
    $r = req('/c?' . q_of(len => 100, mode => 'chunked'), ae('gzip'));
    decodes_to($r, 'gzip', text(100), 'unknown length (chunked), 100 bytes');
    $r = req('/c?' . q_of(len => 100, mode => 'close'), ae('gzip'));
    decodes_to($r, 'gzip', text(100), 'unknown length (close-delimited), 100 bytes');

    for my $type ('text/html', 'text/plain; charset=utf-8', 'application/json', 'application/json; charset=utf-8',
                  'Application/JSON;charset=UTF-8', 'application/javascript', 'image/svg+xml', 'text/css') {
        my $r = req('/c?' . q_of(len => 3000, type => $type), ae('br'));
        decodes_to($r, 'br', text(3000), "type $type");
    }
    for my $type ('image/png', 'application/octet-stream', 'application/jsonx', 'none', 'texthtml') {
        my $r = req('/c?' . q_of(len => 3000, type => $type), ae('br'));
        is(ce($r), 'none', "type $type: not compressed");
        is(field($r, 'vary'), undef, "type $type: no Vary (never compressed)");
        is($r && $r->{body}, text(3000), "type $type: the body as it was");
    }
};

subtest 'responses that are never compressed' => sub {
    my $len = 5000;
    my $r = req('/c?' . q_of(len => $len), ae('gzip'), method => 'HEAD');
    ok($r && $r->{status} == 200, 'HEAD: 200');
    is(ce($r), 'none', 'HEAD: no Content-Encoding');
    is($r && $r->{headers}{'content-length'}, $len, 'HEAD: the upstream\'s Content-Length');
    # (the same Vary as a GET would get: a cache stores HEAD's fields for the GET)
    is(field($r, 'vary'), 'Accept-Encoding', 'HEAD: Vary: Accept-Encoding, as the GET has');

    $r = req('/c?' . q_of(status => 204), ae('gzip'));
    ok($r && $r->{status} == 204 && ce($r) eq 'none', '204: not compressed');
    $r = req('/c?' . q_of(status => 304, h => 'ETag: "v1"'), ae('gzip'));
    ok($r && $r->{status} == 304 && ce($r) eq 'none', '304: not compressed');
    is($r && $r->{headers}{etag}, '"v1"', '304: its strong ETag untouched');

    $r = req('/c?' . q_of(status => 206, len => $len, h => "Content-Range: bytes 0-4999/90000"), ae('gzip'));
    ok($r && $r->{status} == 206, '206: passed');
    is(ce($r), 'none', '206 with Content-Range: not compressed');
    is($r && $r->{body}, text($len), '206: the body as it was');
    $r = req('/c?' . q_of(len => $len, h => "Content-Range: bytes 0-4999/90000"), ae('gzip'));
    is(ce($r), 'none', '200 with a Content-Range: not compressed');

    $r = req('/c?' . q_of(gz => 1, h => 'Content-Encoding: gzip'), ae('gzip, br'));
    is(ce($r), 'gzip', 'already gzip: one Content-Encoding: gzip');
    is(scalar(fields_of($r, 'content-encoding')), 1, 'already gzip: a single Content-Encoding field');
    ok($r && $r->{body} eq $GZ_BODY, 'already gzip: the bytes pass untouched (not compressed twice)');
    is(decode('gzip', $r ? $r->{body} : ''), text(5000), 'already gzip: decodes once to the text');
    $r = req('/c?' . q_of(len => $len, h => 'Content-Encoding: br'), ae('gzip'));
    is(ce($r), 'br', 'Content-Encoding: br (gzip accepted): untouched');
    $r = req('/c?' . q_of(len => $len, h => 'Content-Encoding: identity'), ae('gzip'));
    decodes_to($r, 'gzip', text($len), 'Content-Encoding: identity is compressed');
    is(scalar(fields_of($r, 'content-encoding')), 1, 'identity replaced: one Content-Encoding field');

    for my $cc ('no-transform', 'public, no-transform, max-age=60', 'No-Transform') {
        $r = req('/c?' . q_of(len => $len, h => "Cache-Control: $cc"), ae('gzip'));
        is(ce($r), 'none', "Cache-Control: $cc: not compressed");
        is($r && $r->{body}, text($len), "Cache-Control: $cc: the body as it was");
    }
    $r = req('/c?' . q_of(len => $len, h => 'Cache-Control: no-transformers'), ae('gzip'));
    is(ce($r), 'gzip', 'Cache-Control: no-transformers (another directive): compressed');

    # text/event-stream is in text/*; application/grpc in the wide route's application/*
    for my $c (['/c', 'text/event-stream'], ['/c', 'text/event-stream; charset=utf-8'],
               ['/wide/c', 'application/grpc'], ['/wide/c', 'application/grpc+proto'], ['/wide/c', 'application/grpc-web']) {
        $r = req("$c->[0]?" . q_of(len => $len, mode => 'chunked', type => $c->[1]), ae('gzip'));
        is(ce($r), 'none', "$c->[1]: not compressed");
        is($r && $r->{body}, text($len), "$c->[1]: the body as it was");
    }
    $r = req('/wide/c?' . q_of(len => $len, type => 'application/xml'), ae('gzip'));
    is(ce($r), 'gzip', 'the wide route compresses application/xml (its types apply)');
};

subtest 'Vary, ETag, Content-Length, Transfer-Encoding' => sub {
    my $len = 8000;
    my $r = req('/c?' . q_of(len => $len, h => 'Vary: Origin'), ae('gzip'));
    is(ce($r), 'gzip', 'Vary: Origin upstream: compressed');
    is(scalar(fields_of($r, 'vary')), 1, 'one Vary field');
    is(field($r, 'vary'), 'Origin, Accept-Encoding', 'merged: Origin, Accept-Encoding');
    $r = req('/c?' . q_of(len => $len, h => ['Vary: Origin', 'Vary: Cookie']), ae('gzip'));
    is(field($r, 'vary'), 'Origin, Cookie, Accept-Encoding', 'two upstream Vary fields: one field, all three');
    $r = req('/c?' . q_of(len => $len, h => 'Vary: Origin'), ae('identity'));
    is(field($r, 'vary'), 'Origin, Accept-Encoding', 'not taken by the client: merged all the same');
    for my $v ('accept-encoding', 'Origin, Accept-Encoding', '*') {
        $r = req('/c?' . q_of(len => $len, h => "Vary: $v"), ae('gzip'));
        is(ce($r), 'gzip', "Vary: $v: compressed");
        is(field($r, 'vary'), $v, "Vary: $v: kept as it is, not duplicated");
    }

    $r = req('/c?' . q_of(len => $len, h => 'ETag: "abc123"'), ae('gzip'));
    is($r && $r->{headers}{etag}, 'W/"abc123"', 'a strong ETag is weakened');
    is(scalar(fields_of($r, 'etag')), 1, 'one ETag field');
    $r = req('/c?' . q_of(len => $len, h => 'ETag: W/"abc123"'), ae('gzip'));
    is($r && $r->{headers}{etag}, 'W/"abc123"', 'a weak ETag stays');
    $r = req('/c?' . q_of(len => $len, h => 'ETag: "abc123"'), ae('identity'));
    is($r && $r->{headers}{etag}, '"abc123"', 'not compressed: the strong ETag stays');

    $r = req('/c?' . q_of(len => $len), ae('gzip'));
    is($r && $r->{headers}{'content-length'}, undef, 'compressed: no Content-Length');
    is($r && $r->{headers}{'transfer-encoding'}, 'chunked', 'compressed, HTTP/1.1: Transfer-Encoding: chunked');

    for my $mode (qw(cl chunked)) {
        $r = req('/c?' . q_of(len => 50_000, mode => $mode), ae('gzip'), proto => 'HTTP/1.0');
        ok($r, "HTTP/1.0 client ($mode upstream): a response");
        is($r && $r->{headers}{'transfer-encoding'}, undef, "HTTP/1.0 ($mode): no Transfer-Encoding");
        is($r && $r->{headers}{'content-length'}, undef, "HTTP/1.0 ($mode): no Content-Length (close-delimited)");
        decodes_to($r, 'gzip', text(50_000), "HTTP/1.0 ($mode), read until the close");
    }
};

subtest 'a chunked upstream with trailers; an upstream cut short' => sub {
    my $r = req('/wide/chunked/100000', ae('gzip'));
    decodes_to($r, 'gzip', Backend::pattern(100_000), 'a chunked body with trailers');
    my %tr = map { lc $_->[0] => $_->[1] } @{ ($r && $r->{trailers}) || [] };
    # (the proxy drops a response's trailer fields, compressed or not: the section ends empty)
    ok($r && $r->{trailers} && !exists $tr{'x-checksum'}, 'the compressed chunked body ends with an empty trailer section');
    # an upstream that closes in the middle of a body of known length: the client must not get a
    # complete-looking response (a last chunk after a truncated compressed stream)
    for my $coding (qw(gzip br zstd)) {
        my $c = http_connect($port, timeout => 10);
        $c->send("GET /c?" . q_of(len => 200_000, mode => 'short') . " HTTP/1.1\r\nHost: compress.test\r\nAccept-Encoding: $coding\r\n\r\n");
        my $r = $c->read_response(timeout => 10);
        ok(!$r, "$coding, upstream cut short: no complete response (" . ($r ? 'complete, ' . length($r->{body}) . ' bytes' : $c->error) . ')');
    }
};

subtest 'BREACH guard' => sub {
    my $len = 6000;
    my $path = '/c?' . q_of(len => $len, h => 'Set-Cookie: sid=s3cr3t; HttpOnly');
    my $before = msum(metrics_now(), 'gateway_compress_skipped_total', reason => 'breach');
    my $r = req($path, [['Accept-Encoding', 'gzip'], ['Cookie', 'sid=old']]);
    is(ce($r), 'none', 'Set-Cookie to a request with Cookie: not compressed');
    is(field($r, 'vary'), 'Accept-Encoding', '... with Vary');
    is($r && $r->{body}, text($len), '... the body as it was');
    $r = req($path, [['Accept-Encoding', 'br'], ['Authorization', 'Bearer abc']]);
    is(ce($r), 'none', 'Set-Cookie to a request with Authorization: not compressed');
    ok(wait_until(sub { msum(metrics_now(), 'gateway_compress_skipped_total', reason => 'breach') - $before == 2 }, 5),
       'gateway_compress_skipped_total{reason="breach"} counted both')
        or diag('moved by ' . (msum(metrics_now(), 'gateway_compress_skipped_total', reason => 'breach') - $before));
    $r = req($path, [['Accept-Encoding', 'gzip']]);
    decodes_to($r, 'gzip', text($len), 'Set-Cookie, request without credentials');
    $r = req('/c?' . q_of(len => $len), [['Accept-Encoding', 'gzip'], ['Cookie', 'sid=old']]);
    decodes_to($r, 'gzip', text($len), 'credentials, response without Set-Cookie');
    $r = req("/nb$path", [['Accept-Encoding', 'gzip'], ['Cookie', 'sid=old']]);
    decodes_to($r, 'gzip', text($len), 'breach_guard: false: compressed');
    # a request the client would not have taken compressed is not counted as a breach skip
    my $mid = msum(metrics_now(), 'gateway_compress_skipped_total', reason => 'breach');
    req($path, [['Cookie', 'sid=old']]);
    is(msum(metrics_now(), 'gateway_compress_skipped_total', reason => 'breach'), $mid,
       'no Accept-Encoding: not counted as a breach skip');
};

subtest 'per route' => sub {
    my $len = 20_000;
    my $q = '?' . q_of(len => $len);
    my $r = req("/off/c$q", ae('gzip, br'));
    is(ce($r), 'none', 'compress: off, with a default: not compressed');
    is(field($r, 'vary'), undef, 'compress: off: no Vary');
    is($r && $r->{headers}{'content-length'}, $len, 'compress: off: Content-Length kept');

    $r = req("/on/c$q", ae('gzip, br'));
    decodes_to($r, 'br', text($len), 'compress: on: the default policy');

    $r = req("/gz9/c$q", ae('br, gzip'));
    decodes_to($r, 'gzip', text($len), 'a map with algorithms [gzip]: gzip though br is preferred');
    $r = req("/gz9/c$q", ae('br, zstd'));
    is(ce($r), 'none', 'a map with algorithms [gzip]: br and zstd are not offered');
    my $r9 = req("/gz9/c$q", ae('gzip'));
    my $r1 = req("/gz1/c$q", ae('gzip'));
    decodes_to($r1, 'gzip', text($len), 'levels: {gzip: 1}');
    # zlib writes the level in the gzip header's XFL byte: 2 for level 9, 4 for level 1
    is($r9 && ord(substr($r9->{body}, 8, 1)), 2, 'levels: {gzip: 9}: XFL says the slowest level');
    is($r1 && ord(substr($r1->{body}, 8, 1)), 4, 'levels: {gzip: 1}: XFL says the fastest level');
    ok($r9 && $r1 && length($r9->{body}) < length($r1->{body}),
       'level 9 output is smaller than level 1 (' . ($r9 ? length $r9->{body} : '-') . ' < ' . ($r1 ? length $r1->{body} : '-') . ')');
    # the pooled encoder goes from one level to the other (reset with the route's level)
    $r9 = req("/gz9/c$q", ae('gzip'));
    is($r9 && ord(substr($r9->{body}, 8, 1)), 2, 'level 9 again after a level-1 response (a reused encoder)');
    $r = req('/gz1/c?' . q_of(len => 10), ae('gzip'));
    decodes_to($r, 'gzip', text(10), 'min_length: 0 in a route map: 10 bytes compressed');
    $r = req('/c?' . q_of(len => 10), ae('gzip'));
    is(ce($r), 'none', 'the default (min_length 1k) is unchanged by the route map');
};

subtest 'configuration errors at FILE:LINE:COL' => sub {
    my @cases = (
        ["algorithms: [gzip, lz4]", qr/bad\.conf:6:\d+: compress\.default\.algorithms\[1\]: .*lz4/, 'an unknown coding'],
        ["levels: {gzip: 10}", qr/bad\.conf:6:\d+: compress\.default\.levels\.gzip: .*10/, 'gzip level 10'],
        ["types: [text/html, \"html\"]", qr/bad\.conf:6:\d+: compress\.default\.types\[1\]: "html" is not a media type/, 'a bad media type'],
        ["algorithms: []", qr/bad\.conf:6:\d+: compress\.default\.algorithms: empty list/, 'empty algorithms'],
    );
    for my $c (@cases) {
        my ($line, $re, $what) = @$c;
        my $bad = $t->write_conf(<<"CONF", 'bad.conf');
listeners:
  - address: 127.0.0.1:%%http%%
upstreams:
  be: {servers: [{address: 127.0.0.1:%%be%%}]}
compress:
  default: {$line}
routes:
  - {name: all, match: {path_prefix: /}, upstream: be}
CONF
        my $e = $t->run('-t', '-p', $t->dir, '-c', $bad);
        isnt($e->{exit}, 0, "$what: gatewayd -t refuses it");
        like($e->{out}, $re, "$what: at its FILE:LINE:COL") or diag($e->{out});
    }
    # a route's map is checked the same way, at the route's line
    my $bad = $t->write_conf(<<'CONF', 'bad.conf');
listeners:
  - address: 127.0.0.1:%%http%%
upstreams:
  be: {servers: [{address: 127.0.0.1:%%be%%}]}
routes:
  - {name: all, match: {path_prefix: /}, upstream: be,
     compress: {levels: {br: 12}}}
CONF
    my $e = $t->run('-t', '-p', $t->dir, '-c', $bad);
    isnt($e->{exit}, 0, 'a route map with br level 12: refused');
    like($e->{out}, qr/bad\.conf:7:\d+: .*compress\.levels\.br/, 'a route map: at its FILE:LINE:COL') or diag($e->{out});
    my $ok = $t->run('-t', '-p', $t->dir, '-c', $t->conf);
    is($ok->{exit}, 0, 'the test\'s own configuration passes -t') or diag($ok->{out});
};

subtest 'metrics: responses, input and output bytes by coding' => sub {
    for my $coding (qw(gzip br zstd)) {
        my $m0 = metrics_now();
        my $n = 30_000;
        my $r = req('/c?' . q_of(len => $n, mode => 'chunked'), ae($coding));
        decodes_to($r, $coding, text($n), "metrics ($coding)");
        my $sent = $r ? length $r->{body} : 0;
        my ($d_resp, $d_in, $d_out);
        wait_until(sub {
            my $m1 = metrics_now();
            $d_resp = msum($m1, 'gateway_compress_responses_total', coding => $coding) - msum($m0, 'gateway_compress_responses_total', coding => $coding);
            $d_in = msum($m1, 'gateway_compress_input_bytes_total', coding => $coding) - msum($m0, 'gateway_compress_input_bytes_total', coding => $coding);
            $d_out = msum($m1, 'gateway_compress_output_bytes_total', coding => $coding) - msum($m0, 'gateway_compress_output_bytes_total', coding => $coding);
            $d_resp == 1 && $d_in == $n && $d_out == $sent;
        }, 5);
        is($d_resp, 1, "gateway_compress_responses_total{coding=\"$coding\"} +1");
        is($d_in, $n, "gateway_compress_input_bytes_total{coding=\"$coding\"} +$n");
        is($d_out, $sent, "gateway_compress_output_bytes_total{coding=\"$coding\"} + the bytes sent ($sent)");
    }
    my $m = metrics_now();
    is($m->{types}{gateway_compress_responses_total}, 'counter', 'gateway_compress_responses_total is a counter');
    is($m->{types}{gateway_compress_memory_bytes}, 'gauge', 'gateway_compress_memory_bytes is a gauge');
    is_deeply($m->{bad}, [], '/metrics parses');
};

subtest 'a 100 MB response streamed through gzip, decoded as it arrives; worker RSS bounded' => sub {
    my $blocks = 1600;    # x 64 KiB = 100 MiB
    my $want = do { my $d = Digest::MD5->new; $d->add(big_block($_)) for 0 .. $blocks - 1; $d->hexdigest };
    my ($worker) = map { $_->{pid} } $t->workers;
    ok($worker, 'the worker\'s pid') or return;
    my $rss0 = rss_kb($worker);
    my $c = http_connect($port, timeout => 30) or return fail('connect');
    $c->send("GET /c?big=$blocks HTTP/1.1\r\nHost: compress.test\r\nAccept-Encoding: gzip\r\n\r\n");
    my $deadline = time + 60;
    my $end;
    while (($end = index($c->{buf}, "\r\n\r\n")) < 0) { $c->fill($deadline) or return fail('no head') }
    my $head = substr($c->{buf}, 0, $end + 4, '');
    like($head, qr/\r\ncontent-encoding: gzip\r\n/i, 'Content-Encoding: gzip');
    like($head, qr/\r\ntransfer-encoding: chunked\r\n/i, 'chunked');
    my ($inf, $st) = Compress::Raw::Zlib::Inflate->new(-WindowBits => Compress::Raw::Zlib::WANT_GZIP(),
                                                        -ConsumeInput => 1, -AppendOutput => 0);
    my $md5 = Digest::MD5->new;
    my ($wire, $plain, $rss_max, $done, $err) = (0, 0, $rss0, 0, '');
    my $next_sample = 0;
    my $line = sub {
        my $i;
        while (($i = index($c->{buf}, "\r\n")) < 0) { $c->fill($deadline) or die "eof in a chunk line\n" }
        return substr(substr($c->{buf}, 0, $i + 2, ''), 0, $i);
    };
    eval {
        while (1) {
            my $size = hex($line->());
            last if $size == 0;
            while (length $c->{buf} < $size + 2) { $c->fill($deadline) or die "eof in a chunk\n" }
            my $data = substr($c->{buf}, 0, $size, '');
            substr($c->{buf}, 0, 2, '');
            $wire += $size;
            my $s = $inf->inflate($data, my $out);
            die "inflate: $s\n" unless $s == Compress::Raw::Zlib::Z_OK() || $s == Compress::Raw::Zlib::Z_STREAM_END();
            $md5->add($out);
            $plain += length $out;
            $done = 1 if $s == Compress::Raw::Zlib::Z_STREAM_END();
            if ($plain >= $next_sample) {
                my $rss = rss_kb($worker) // 0;
                $rss_max = $rss if $rss > $rss_max;
                $next_sample = $plain + (4 << 20);
            }
        }
        $line->();    # the end of the (empty) trailer section
        1;
    } or $err = $@;
    is($err, '', 'the stream read to its end');
    ok($done, 'the gzip stream ended (its trailer arrived)');
    is($plain, $blocks * 65536, "decoded length: $blocks x 64 KiB");
    is($md5->hexdigest, $want, 'the decoded bytes equal the generated ones (MD5)');
    ok($wire < $plain / 2, "compressed on the wire ($wire bytes)");
    my $growth = $rss_max - $rss0;
    ok($growth < 64 * 1024, "the worker's RSS grew by less than 64 MB over the stream ($rss0 -> max $rss_max KiB)");
};

subtest 'the memory bound: compress.max_memory' => sub {
    my $t2 = GatewayTest->new;
    $t2->set_port('be', $backend->port);
    $t2->write_conf(<<'CONF');
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
upstreams:
  be:
    servers: [{address: 127.0.0.1:%%be%%}]
compress:
  default: {algorithms: [gzip, br], min_length: 0}
  max_memory: 1m
routes:
  - {name: all, match: {path_prefix: /}, upstream: be}
CONF
    $t2->start;
    my $p2 = $t2->port('http');
    my $skipped0 = msum($t2->metrics, 'gateway_compress_skipped_total', reason => 'memory');
    my $n = 12;
    my $len = 1 << 20;
    my $hold = $t2->dir . '/release';
    my @c;
    for my $i (1 .. $n) {
        my $c = http_connect($p2, timeout => 30) or return fail("connect $i");
        # every other one chunked from the upstream; br's first guess (1.4 MB) never fits 1m
        my $mode = $i % 2 ? 'cl' : 'chunked';
        $c->send("GET /c?" . q_of(len => $len, mode => $mode, hold => $hold)
                 . " HTTP/1.1\r\nHost: compress.test\r\nAccept-Encoding: " . ($i == $n ? 'br' : 'gzip') . "\r\n\r\n");
        push @c, $c;
    }
    # all of them in flight at once: every head has arrived (the bodies wait at the backend)
    my $deadline = time + 15;
    my $heads = wait_until(sub {
        my $all = 1;
        for my $c (@c) {
            next if index($c->{buf}, "\r\n\r\n") >= 0;
            $all = 0;
            my $sel = IO::Select->new($c->sock);
            $c->fill(time + 0.01) if $sel->can_read(0);
        }
        $all;
    }, 15);
    ok($heads, "all $n response heads arrived while their bodies are held");
    my $mem = msum($t2->metrics, 'gateway_compress_memory_bytes');
    ok($mem <= 1 << 20, "gateway_compress_memory_bytes ($mem) <= max_memory while $n responses are in flight");
    spew($hold, '');    # release the bodies
    my ($compressed, $plain, $good) = (0, 0, 0);
    for my $i (0 .. $#c) {
        my $r = $c[$i]->read_response(timeout => 30);
        my $coding = ce($r);
        $coding eq 'none' ? $plain++ : $compressed++;
        my $got = $r ? decode($coding, $r->{body}) : undef;
        $good++ if defined $got && $got eq text($len);
        diag("response $i: " . ($r ? "$r->{status}, $coding, " . length($r->{body}) . ' bytes' : $c[$i]->error)) unless defined $got && $got eq text($len);
    }
    is($good, $n, "every response (compressed or not) equals the original after decoding");
    ok($compressed >= 1, "some responses compressed ($compressed)");
    ok($plain >= 1, "some responses passed uncompressed ($plain)");
    my $skipped;
    wait_until(sub { $skipped = msum($t2->metrics, 'gateway_compress_skipped_total', reason => 'memory') - $skipped0; $skipped == $plain }, 5);
    is($skipped, $plain, "gateway_compress_skipped_total{reason=\"memory\"} counts the uncompressed ones ($plain)");
    # clients that go away in the middle of compressed responses give their encoders back
    my $hold2 = $t2->dir . '/release2';
    my @gone;
    for my $i (1 .. 3) {
        my $c = http_connect($p2, timeout => 30) or return fail("connect $i");
        $c->send("GET /c?" . q_of(len => $len, hold => $hold2) . " HTTP/1.1\r\nHost: compress.test\r\nAccept-Encoding: gzip\r\n\r\n");
        wait_until(sub { $c->fill(time + 0.05) if index($c->{buf}, "\r\n\r\n") < 0; index($c->{buf}, "\r\n\r\n") >= 0 }, 10);
        push @gone, ce($c->{buf} =~ /\r\ncontent-encoding: (\S+)\r\n/i ? { headers => { 'content-encoding' => $1 } } : { headers => {} });
        $c->close;
    }
    is(join(',', @gone), 'gzip,gzip,gzip', 'three compressed responses whose clients then close');
    spew($hold2, '');
    my $back = wait_until(sub {
        my $r = http_get($p2, '/c?' . q_of(len => 5000), { 'Accept-Encoding' => 'gzip' });
        return 0 unless ce($r) eq 'gzip';
        # three at once again, all compressed: none of the three encoders is lost
        my $hold3 = $t2->dir . '/release3.' . int(rand(1e9));
        my @c;
        for (1 .. 3) {
            my $c = http_connect($p2, timeout => 30) or return 0;
            $c->send("GET /c?" . q_of(len => 100_000, hold => $hold3) . " HTTP/1.1\r\nHost: compress.test\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n");
            push @c, $c;
        }
        my @ce;
        for my $c (@c) {
            wait_until(sub { $c->fill(time + 0.05) if index($c->{buf}, "\r\n\r\n") < 0; index($c->{buf}, "\r\n\r\n") >= 0 }, 10);
            push @ce, $c->{buf} =~ /\r\ncontent-encoding: gzip\r\n/i ? 1 : 0;
        }
        spew($hold3, '');
        $_->read_response(timeout => 10) for @c;
        return !grep { !$_ } @ce;
    }, 10, 0.2);
    ok($back, 'after the clients left: three compressed responses at once again (their encoders came back)');
    # afterwards, with the memory free again, a response is compressed
    my $r = http_get($p2, '/c?' . q_of(len => 5000), { 'Accept-Encoding' => 'gzip' });
    is(ce($r), 'gzip', 'after the burst: compressed again');
    unlink $hold;
    $t2->stop;
};

subtest 'the memory bound holds for a Brotli encoder reused from the pool' => sub {
    # Brotli's state is freed when its encoder goes idle and remade for the next response: taking
    # an idle Brotli encoder allocates as much as making a new one, and must fit the bound as well.
    my $t3 = GatewayTest->new;
    $t3->set_port('be', $backend->port);
    $t3->write_conf(<<'CONF');
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
upstreams:
  be:
    servers: [{address: 127.0.0.1:%%be%%}]
compress:
  default: {algorithms: [br, gzip], min_length: 0}
  max_memory: 3m
routes:
  - {name: all, match: {path_prefix: /}, upstream: be}
CONF
    $t3->start;
    my $p3 = $t3->port('http');
    my $r = http_get($p3, '/c?' . q_of(len => 200_000), { 'Accept-Encoding' => 'br' });
    decodes_to($r, 'br', text(200_000), 'a first br response (its encoder then waits in the pool)');
    my $skipped0 = msum($t3->metrics, 'gateway_compress_skipped_total', reason => 'memory');
    my $hold = $t3->dir . '/release';
    my $len = 1 << 20;
    # ten chunked gzip responses in flight (10 x ~262 KiB of zlib state: a body of unknown length
    # streams through zlib), then one br, which needs ~2.1 MiB
    my @c;
    for my $coding ((('gzip') x 10), 'br') {
        my $c = http_connect($p3, timeout => 30) or return fail('connect');
        $c->send("GET /c?" . q_of(len => $len, hold => $hold, mode => 'chunked')
                 . " HTTP/1.1\r\nHost: compress.test\r\nAccept-Encoding: $coding\r\n\r\n");
        push @c, $c;
        # one at a time, in this order: each head before the next request
        wait_until(sub { $c->fill(time + 0.05) if index($c->{buf}, "\r\n\r\n") < 0; index($c->{buf}, "\r\n\r\n") >= 0 }, 10)
            or return fail("the head of a held $coding response");
    }
    my $mem = msum($t3->metrics, 'gateway_compress_memory_bytes');
    ok($mem <= 3 << 20, "gateway_compress_memory_bytes ($mem) <= max_memory (3 MiB) with 11 responses in flight");
    my $br_head = substr($c[-1]{buf}, 0, index($c[-1]{buf}, "\r\n\r\n") + 2);
    unlike($br_head, qr/\r\ncontent-encoding: br\r\n/i,
           'the br response, with no room for a Brotli state, is sent uncompressed');
    spew($hold, '');
    my $good = 0;
    my $plain = 0;
    for my $c (@c) {
        my $r = $c->read_response(timeout => 30);
        $plain++ if ce($r) eq 'none';
        my $got = $r ? decode(ce($r), $r->{body}) : undef;
        $good++ if defined $got && $got eq text($len);
    }
    is($good, scalar @c, 'every response equals the original after decoding');
    my $skipped;
    wait_until(sub { $skipped = msum($t3->metrics, 'gateway_compress_skipped_total', reason => 'memory') - $skipped0; $skipped == $plain }, 5);
    is($skipped, $plain, "gateway_compress_skipped_total{reason=\"memory\"} counts the uncompressed ones ($plain)");
    $t3->stop;
};

done_testing;
