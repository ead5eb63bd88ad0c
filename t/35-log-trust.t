#!/usr/bin/perl
# Logs that can be trusted (issue 11 §3, §4): hostile bytes in the URI, User-Agent and Referer
# keep every JSON line strict JSON and every combined line its fields; X-Request-Id is on every
# response (the gateway's own 400/404/502/503 too), goes upstream and is logged; a 502 names its
# backend in the access log; secrets reach neither log; admin requests are not logged unless
# asked; a burst against a dead upstream writes a bounded number of error-log lines with a count.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use GatewayTest;
use Backend;
use StrictJSON;
my $limits = has_modules('ratelimit');  # for the rate-limited route (./configure --without-ratelimit)

my $be = Backend->new(name => 'a')->start;
my $dead = dead_port();
my $dead_burst = dead_port();
my $dead_retry = dead_port();

sub conf {
    my ($access_log) = @_;
    my $text = <<"EOF" . <<'EOF';
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
access_log: $access_log
EOF
logs:
  repeat_interval: 1s
  redact: {query: [ticket]}
rate_limits:
  tight: {key: ip, rate: 1/m, burst: 1}
listeners:
  - address: 127.0.0.1:%%http%%
  - address: 127.0.0.1:%%admin%%
    admin: true
upstreams:
  app:
    servers: [{address: 127.0.0.1:%%be%%}]
  gone:
    servers: [{address: 127.0.0.1:%%dead%%}]
  burst:
    servers: [{address: 127.0.0.1:%%dead_burst%%}]
    all_down: reject
  retried:
    servers: [{address: 127.0.0.1:%%dead_retry%%}, {address: 127.0.0.1:%%be%%}]
routes:
  - name: app
    match: {path_prefix: /app}
    strip_prefix: /app
    upstream: app
  - name: gone
    match: {path_prefix: /gone}
    upstream: gone
  - name: burst
    match: {path_prefix: /burst}
    upstream: burst
  - name: retried
    match: {path_prefix: /retried}
    strip_prefix: /retried
    upstream: retried
    retries: {attempts: 2, on: [connect_failure]}
  - name: limited
    match: {path_prefix: /limited}
    rate_limit: [tight]
    return: {status: 200}
  - name: hello
    match: {path_prefix: /hello}
    return: {status: 200, body: "hello\n"}
EOF
    $text =~ s/^rate_limits:\n(?:  .*\n)+|^    rate_limit: .*\n//mg unless $limits;
    return $text;
}

sub gateway {
    my ($access_log) = @_;
    my $t = GatewayTest->new;
    $t->set_port('be', $be->port);
    $t->set_port('dead', $dead);
    $t->set_port('dead_burst', $dead_burst);
    $t->set_port('dead_retry', $dead_retry);
    $t->write_conf(conf($access_log));
    $t->start;
    return $t;
}

my $json_gw = gateway('{path: logs/access.log, flush: 100ms}');
my $comb_gw = gateway('{path: logs/access.log, flush: 100ms, format: combined}');

# Raw requests with hostile bytes, as far as the request parser lets them through: the target
# takes `"`, `\` and any byte >= 0x80; header values take those and HTAB. The last ones are
# refused (400) but still answered and logged.
my @hostile = (
    [ "/hello/q\"uote\\back?x=\xff\xfe&y=%00%0a&end=\"", "ua \"quoted\" \\back\tTab \xc3\x28 \xff\xfe end",
      "http://ref.test/\"x\"?code=REFSECRET&s=\xe2\x82" ],
    [ "/hello/overlong\xc0\xaf/surrogate\xed\xa0\x80/max\xf4\x90\x80\x80/bom\xef\xbb\xbf", "\x80\x81\x82",
      "\\\\\\\"" ],
    [ "/hello/utf8-\xc3\xa9t\xc3\xa9-\xf0\x9f\x98\x80", "curl/8.0 (\xe2\x80\xa8)", "-" ],
    [ "/hello/\x01control", "x", "y" ],    # 400: control character in the target
);

sub raw_request {
    my ($t, $target, $ua, $referer) = @_;
    my $port = $t->port('http');
    return http_request($port, "GET $target HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nUser-Agent: $ua\r\n"
                               . "Referer: $referer\r\nConnection: close\r\n\r\n");
}

# The access-log lines of $t once at least $n are there.
sub access_lines {
    my ($t, $n) = @_;
    my @lines;
    wait_until(sub {
        @lines = split /\n/, GatewayTest::slurp($t->path('logs/access.log')) // '';
        @lines >= $n;
    }, 5);
    return @lines;
}

for my $t ($json_gw, $comb_gw) {
    for my $h (@hostile) {
        my $r = raw_request($t, @$h);
        ok($r && $r->{status} =~ /^(200|400)$/, 'hostile request answered') or diag($r ? $r->{status} : 'none');
        like($r && $r->{headers}{'x-request-id'} // '', qr/^[0-9a-f]{32}$/, '... with a generated X-Request-Id');
    }
    # A request line that cannot be parsed at all is answered and logged too.
    my $r = http_request($t->port('http'), "\xff\x00garbage\r\n\r\n");
    is($r && $r->{status}, 400, 'garbage request: 400');
    like($r && $r->{headers}{'x-request-id'} // '', qr/^[0-9a-f]{32}$/, '... with X-Request-Id');
}

my $expected = @hostile + 1;
{
    my @lines = access_lines($json_gw, $expected);
    is(scalar @lines, $expected, 'one JSON line per request');
    my $bad = 0;
    for my $line (@lines) {
        my $e = eval { StrictJSON::decode($line) };
        if (!$e) {
            $bad++;
            diag("not strict JSON ($@): $line");
            next;
        }
        for my $k (qw(request_id upstream_addr upstream_status upstream_response_time request_time bytes_sent
                      user_agent referer uri status)) {
            exists $e->{$k} or do { $bad++; diag("no $k: $line") };
        }
    }
    is($bad, 0, 'every JSON line parses with a strict parser and has the fields');
    my @e = map { eval { StrictJSON::decode($_) } || {} } @lines;
    is($e[0]{user_agent}, "ua \"quoted\" \\back\tTab \x{c3}( \x{ff}\x{fe} end",
       'user_agent: quotes, backslash and tab kept; invalid bytes as \u00XX of their value');
    like($lines[0], qr/\\u00c3\(/, 'invalid UTF-8 bytes written as \u00XX');
    like($e[0]{uri}, qr{^/hello/q"uote\\back\?x=}, 'uri with quote and backslash');
    unlike($lines[0], qr/REFSECRET/, 'the referer is redacted (code=)');
    like($e[0]{referer}, qr/code=REDACTED/, 'referer: code=REDACTED');
    is($e[2]{uri}, "/hello/utf8-\x{e9}t\x{e9}-\x{1F600}", 'valid UTF-8 passes through');
    ok($e[3]{status} == 400 && $e[3]{uri} eq '-', 'a refused request is logged with status 400');
    ok($e[$_]{bytes_sent} > $e[$_]{body_bytes_sent}, "bytes_sent counts the head ($_)") for 0 .. 3;
}
{
    my @lines = access_lines($comb_gw, $expected);
    is(scalar @lines, $expected, 'one combined line per request');
    my $q = qr/"((?:[^"\\]|\\x[0-9A-F]{2})*)"/;
    my $bad = 0;
    for my $line (@lines) {
        if ($line !~ /^[\x20-\x7e]*$/ || $line !~ /^(\S+) - - \[[^\]]+\] $q (\d{3}) (\d+) $q $q$/) {
            $bad++;
            diag("combined line does not keep its fields: $line");
        }
    }
    is($bad, 0, 'every combined line is printable ASCII with its 7 fields (quoted ones escaped as \xHH)');
    like($lines[0], qr/"GET \/hello\/q\\x22uote\\x5Cback\?x=\\xFF\\xFE/, 'combined: " \ and bytes as \xHH');
    like($lines[0], qr/ua \\x22quoted\\x22 \\x5Cback\\x09Tab/, 'combined: the user agent escaped');
    unlike($lines[0], qr/REFSECRET/, 'combined: the referer is redacted');
}
$comb_gw->stop;

# --- X-Request-Id: generated or trusted, upstream, on the response, in the log ------------------

my $t = $json_gw;
my $port = $t->port('http');
my $access = $t->path('logs/access.log');

sub log_entry {
    my ($marker) = @_;
    my $entry;
    wait_until(sub {
        for my $line (split /\n/, GatewayTest::slurp($access) // '') {
            next unless index($line, $marker) >= 0;
            $entry = eval { StrictJSON::decode($line) } // { unparsable => $line };
            return 1;
        }
        return 0;
    }, 5);
    return $entry // {};
}

{
    my $r = http_get($port, '/app/echo/trusted', { 'X-Request-Id' => 'client-id-42' });
    is($r && $r->{status}, 200, 'proxied request');
    is($r && $r->{headers}{'x-request-id'}, 'client-id-42', 'a sane incoming X-Request-Id is kept');
    my $echo = $r ? parse_json($r->{body}) : {};
    my @ids = map { $_->[1] } grep { lc $_->[0] eq 'x-request-id' } @{ $echo->{headers} // [] };
    is("@ids", 'client-id-42', 'the same id went upstream, once');
    my $e = log_entry('/app/echo/trusted');
    is($e->{request_id}, 'client-id-42', 'and is in the access log');
    is($e->{upstream_addr}, '127.0.0.1:' . $be->port, 'upstream_addr');
    is($e->{upstream_status}, '200', 'upstream_status');
    like($e->{upstream_response_time}, qr/^\d+\.\d{3}$/, 'upstream_response_time');

    $r = http_get($port, '/app/echo/generated', { 'X-Request-Id' => "bad id with spaces" });
    my $id = $r && $r->{headers}{'x-request-id'} // '';
    like($id, qr/^[0-9a-f]{32}$/, 'an insane incoming id is replaced by a generated one');
    $echo = $r ? parse_json($r->{body}) : {};
    @ids = map { $_->[1] } grep { lc $_->[0] eq 'x-request-id' } @{ $echo->{headers} // [] };
    is("@ids", $id, 'the generated id went upstream');
    is(log_entry('/app/echo/generated')->{request_id}, $id, 'and is in the access log');

    $r = http_get($port, '/no-route-here');
    is($r && $r->{status}, 404, 'no route: 404');
    $id = $r && $r->{headers}{'x-request-id'} // '';
    like($id, qr/^[0-9a-f]{32}$/, '404 carries X-Request-Id');
    is(log_entry('/no-route-here')->{request_id}, $id, 'the 404 is logged with it');
    is(log_entry('/no-route-here')->{upstream_addr}, '', 'no upstream: upstream_addr ""');

    $r = http_get($port, '/hello/local', { 'X-Request-Id' => 'local-1' });
    is($r && $r->{headers}{'x-request-id'}, 'local-1', 'a return route carries X-Request-Id');

    SKIP: {
        skip 'built without the ratelimit module', 3 unless $limits;
        http_get($port, '/limited/1');
        $r = http_get($port, '/limited/2', { 'X-Request-Id' => 'limited-2' });
        is($r && $r->{status}, 429, 'rate limited: 429');
        is($r && $r->{headers}{'x-request-id'}, 'limited-2', '429 carries X-Request-Id');
        is(log_entry('/limited/2')->{request_id}, 'limited-2', 'the 429 is logged with it');
    }

    # A request line was read, a header was not: 400, with an id of its own.
    $r = http_request($port, "GET /hello/bad-header HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n");
    is($r && $r->{status}, 400, 'bad header: 400');
    like($r && $r->{headers}{'x-request-id'} // '', qr/^[0-9a-f]{32}$/, '400 carries X-Request-Id');
}

# --- a 502 names its backend; secrets reach neither log ---------------------------------------

{
    my $r = http_get($port, '/gone/x?token=SEKRET-1&client_secret=SEKRET-2&%74icket=SEKRET-3&keep=1',
                     { Authorization => 'Bearer SEKRET-4', Cookie => 'sid=SEKRET-5',
                       Referer => 'http://ref.test/?access_token=SEKRET-6' });
    is($r && $r->{status}, 502, 'backend port closed: 502');
    my $id = $r && $r->{headers}{'x-request-id'} // '';
    like($id, qr/^[0-9a-f]{32}$/, '502 carries X-Request-Id');
    my $e = log_entry('/gone/x');
    is($e->{request_id}, $id, '502 access-log line: request_id');
    is($e->{upstream_addr}, "127.0.0.1:$dead", '502 access-log line: upstream_addr');
    is($e->{upstream_status}, '502', '502 access-log line: upstream_status');
    is($e->{uri}, '/gone/x?token=REDACTED&client_secret=REDACTED&%74icket=REDACTED&keep=1',
       'uri redacted (a configured name, percent-encoded, too)');
    my $line;
    ok(wait_until(sub { ($line) = grep { m{/gone/x} } split /\n/, $t->error_log; $line }, 5),
       'the failure is in the error log') or diag($t->error_log);
    like($line // '', qr/request_id: "\Q$id\E"/, 'error log line names the request id');
    like($line // '', qr{/gone/x\?token=REDACTED&client_secret=REDACTED&%74icket=REDACTED&keep=1},
         'error log line has the request redacted');
    unlike(GatewayTest::slurp($access), qr/SEKRET/, 'no secret in the access log');
    unlike($t->error_log, qr/SEKRET/, 'no secret in the error log');
}

# --- a retried request lists its attempts ----------------------------------------------------------

{
    my $r = http_get($port, '/retried/id?first');
    is($r && $r->{status}, 200, 'retried on the next server: 200');
    my $e = log_entry('/retried/id?first');
    is($e->{upstream_addr}, "127.0.0.1:$dead_retry, 127.0.0.1:" . $be->port, 'upstream_addr lists both attempts');
    is($e->{upstream_status}, '502, 200', 'upstream_status lists both');
    like($e->{upstream_response_time}, qr/^\d+\.\d{3}, \d+\.\d{3}$/, 'upstream_response_time lists both');
}

# --- admin requests are not logged unless asked --------------------------------------------------

{
    my $r = $t->admin_get('/health?admin-probe=1');
    is($r && $r->{status}, 200, 'admin request served');
    like($r && $r->{headers}{'x-request-id'} // '', qr/^[0-9a-f]{32}$/, 'admin response carries X-Request-Id');
    http_get($port, '/hello/after-admin');
    log_entry('/hello/after-admin');
    unlike(GatewayTest::slurp($access), qr/admin-probe/, 'admin request not in the access log');

    my $t2 = GatewayTest->new;
    $t2->write_conf(<<'EOF');
worker_processes: 1
pid: logs/gatewayd.pid
error_log: logs/error.log
access_log: {path: logs/access.log, flush: 100ms, log_admin: true}
listeners:
  - address: 127.0.0.1:%%http%%
  - address: 127.0.0.1:%%admin%%
    admin: true
routes:
  - name: hello
    return: {status: 200}
EOF
    $t2->start;
    $t2->admin_get('/health?admin-probe=2');
    ok(wait_until(sub { (GatewayTest::slurp($t2->path('logs/access.log')) // '') =~ /admin-probe=2/ }, 5),
       'with log_admin: true it is');
    $t2->stop;
}

# --- a burst against a dead upstream writes a bounded number of lines, with a count ----------------

{
    my $n = 150;
    my (%status, $without_id);
    for (1 .. $n) {
        my $r = http_get($port, "/burst/$_");
        $status{ $r ? $r->{status} : 'none' }++;
        $without_id++ unless $r && ($r->{headers}{'x-request-id'} // '') =~ /^[0-9a-f]{32}$/;
    }
    ok(!$without_id, 'every 502/503 carries X-Request-Id');
    is(($status{502} // 0) + ($status{503} // 0), $n, "$n requests answered 502 or 503")
        or diag(join ', ', map { "$_: $status{$_}" } sort keys %status);
    # The held-back count is written with the next line after the interval (1s here).
    my $counted;
    my $k = 0;
    ok(wait_until(sub {
        http_get($port, '/burst/after-' . $k++);
        ($counted) = $t->error_log =~ /every server of upstream "burst" is down.*\(and (\d+) more like it in the last \d+s\)/;
        defined $counted;
    }, 5, 0.25), 'a later line tells how many were held back') or diag($t->error_log);
    my @burst = grep { /upstream "burst"|upstream: "burst"/ } split /\n/, $t->error_log;
    ok(@burst <= 10, 'a bounded number of error-log lines for the burst (' . scalar(@burst) . ')')
        or diag(join "\n", @burst[0 .. 9]);
    ok(($counted // 0) >= $n - 10, "the count covers the burst ($counted)");
}

done_testing();
