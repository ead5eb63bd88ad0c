#!/usr/bin/perl
# Access log JSON lines (keys, values, redaction of secrets), flushing, and USR1 reopening.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Scalar::Util qw(looks_like_number);
use GatewayTest;

my $t = GatewayTest->new;
my $dir = $t->dir;
$t->write_conf(<<'EOF');
worker_processes: 2
pid: logs/gatewayd.pid
error_log: logs/error.log
access_log:
  path: logs/access.log
  flush: 100ms
listeners:
  - address: 127.0.0.1:%%http%%
  - address: 127.0.0.1:%%admin%%
    admin: true
routes:
  - name: hello
    match: {path_prefix: /hello}
    return: {status: 200, body: "hello, log\n"}
EOF
$t->start;
my $port = $t->port('http');
my $access = "$dir/logs/access.log";

# Waits for the access log line whose uri contains $marker; returns it decoded.
sub log_entry {
    my ($marker, $file) = @_;
    $file //= $access;
    my $entry;
    wait_until(sub {
        my $text = GatewayTest::slurp($file) // return 0;
        for my $line (split /\n/, $text) {
            next unless index($line, $marker) >= 0;
            $entry = parse_json($line) // { unparsable => $line };
            return 1;
        }
        return 0;
    }, 5);
    return $entry;
}

# --- one request, every key ---------------------------------------------------------------------

my $r = http_get($port, '/hello/one?token=SEKRET-ONE&x=1',
                 { Host => "logs.test:$port", 'User-Agent' => 'gw-test/1.0', Referer => 'http://ref.test/page' });
is($r && $r->{status}, 200, 'request served');

my $e = log_entry('/hello/one');
ok($e, 'access log line written within the flush interval') or diag(GatewayTest::slurp($access));
$e ||= {};
ok(!exists $e->{unparsable}, 'the line is JSON') or diag($e->{unparsable});
for my $k (qw(time remote_addr method uri protocol status body_bytes_sent bytes_sent request_time route host
              user_agent referer request_id upstream_addr upstream_status upstream_response_time generation)) {
    ok(exists $e->{$k}, "key $k present");
}
like($e->{time} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'time is ISO 8601 UTC with ms');
is($e->{remote_addr}, '127.0.0.1', 'remote_addr');
is($e->{method}, 'GET', 'method');
is($e->{uri}, '/hello/one?token=REDACTED&x=1', 'uri with the token REDACTED');
is($e->{protocol}, 'HTTP/1.1', 'protocol');
ok(defined $e->{status} && $e->{status} =~ /^\d+$/ && $e->{status} == 200, 'status 200');
ok(defined $e->{body_bytes_sent} && $e->{body_bytes_sent} =~ /^\d+$/ && $e->{body_bytes_sent} == length("hello, log\n"),
   'body_bytes_sent is the body length');
ok(defined $e->{request_time} && !ref $e->{request_time} && looks_like_number($e->{request_time})
   && $e->{request_time} >= 0 && $e->{request_time} < 5,
   'request_time in seconds');
is($e->{route}, 'hello', 'route');
is($e->{host}, "logs.test:$port", 'host');
is($e->{user_agent}, 'gw-test/1.0', 'user_agent');
is($e->{referer}, 'http://ref.test/page', 'referer');
is($e->{request_id}, $r && $r->{headers}{'x-request-id'}, 'request_id is the X-Request-Id of the response');
is($e->{upstream_addr}, '', 'upstream_addr empty for a returned route');
ok(defined $e->{generation} && $e->{generation} == 1, 'generation 1');
unlike(GatewayTest::slurp($access) // '', qr/SEKRET-ONE/, 'the secret is not in the log file');

# --- every secret parameter is redacted ----------------------------------------------------------

my @secret = qw(token access_token api_key apikey key password secret signature sig client_secret refresh_token
                id_token session session_id code x-amz-signature x-goog-signature);
my $q = join '&', (map { "$_=SEKRET-$_" } @secret), 'keep=visible';
$r = http_get($port, "/hello/two?$q");
is($r && $r->{status}, 200, 'request with secrets served');
$e = log_entry('/hello/two') || {};
is($e->{uri}, '/hello/two?' . join('&', (map { "$_=REDACTED" } @secret), 'keep=visible'),
   'all secret parameters REDACTED, others kept');
unlike(GatewayTest::slurp($access) // '', qr/SEKRET/, 'no secret in the log file');

# --- an unmatched request --------------------------------------------------------------------------

$r = http_get($port, '/nothing-here-404');
is($r && $r->{status}, 404, 'unmatched request 404');
$e = log_entry('/nothing-here-404') || {};
ok(defined $e->{status} && $e->{status} == 404, 'logged with status 404');
is($e->{route}, '', 'logged with route ""');
is($e->{method}, 'GET', 'method');

# --- USR1 reopens the logs ---------------------------------------------------------------------------

ok(rename($access, "$access.1"), 'access.log moved to access.log.1');
ok(rename("$dir/logs/error.log", "$dir/logs/error.log.1"), 'error.log moved to error.log.1');
ok($t->signal('USR1'), 'USR1 sent');

# requests keep going to the moved file until the workers reopen; poll with fresh requests
my $n = 0;
my $reopened = wait_until(sub {
    $n++;
    my $rr = http_get($port, "/hello/after-rotate-$n");
    return 0 unless $rr && $rr->{status} == 200;
    return -f $access && (GatewayTest::slurp($access) // '') =~ /after-rotate-/;
}, 5, 0.05);
ok($reopened, 'after USR1, new requests land in a new access.log');
my $last = $n;
$e = log_entry("/hello/after-rotate-$last") || {};
is($e->{uri}, "/hello/after-rotate-$last", 'the last request is in the new access.log');
# one more request, made after the reopen was seen, must not go to the old file
$r = http_get($port, '/hello/definitely-new');
ok(log_entry('/hello/definitely-new'), 'a later request is in the new access.log');
unlike(GatewayTest::slurp("$access.1") // '', qr/definitely-new/, 'and not in access.log.1');
like(GatewayTest::slurp("$access.1") // '', qr{/hello/one}, 'access.log.1 keeps the old lines');

ok(wait_until(sub { -f "$dir/logs/error.log" }, 5), 'error.log reopened (a new file exists)');
like(GatewayTest::slurp("$dir/logs/error.log.1") // '', qr/\[notice\]/, 'error.log.1 keeps the old lines');
# a reload makes the master write notices: they go to the new file
$t->signal('HUP');
ok(wait_until(sub { (GatewayTest::slurp("$dir/logs/error.log") // '') =~ /\[notice\]/ }, 5),
   'new error log lines go to the new error.log');
my $st;
ok(wait_until(sub { $st = $t->status_json; $st && $st->{generation} == 2 }, 5), 'reload done');

# --- buffered lines are flushed when the gateway stops ------------------------------------------------

{
    my $t2 = GatewayTest->new;
    $t2->write_conf(<<'EOF');
worker_processes: 1
pid: logs/gatewayd.pid
error_log: logs/error.log
access_log: {path: logs/access.log, flush: 1h}
listeners:
  - address: 127.0.0.1:%%http%%
  - address: 127.0.0.1:%%admin%%
    admin: true
routes:
  - name: hello
    return: {status: 200, body: "x"}
EOF
    $t2->start;
    my $rr = $t2->get('/buffered-line');
    is($rr && $rr->{status}, 200, 'request served (flush: 1h)');
    $t2->signal('QUIT');
    ok($t2->wait_exit(10), 'gateway stopped with QUIT');
    my $be = log_entry('/buffered-line', $t2->dir . '/logs/access.log') || {};
    is($be->{uri}, '/buffered-line', 'the buffered access log line was written on exit');
}

done_testing();
