#!/usr/bin/perl
# Variables in configured texts (issue 13), with the real binary and a real backend that echoes
# the request headers it got:
#   1. request_headers `set:` with $remote_addr and $request_id reach the backend (the id is the
#      X-Request-Id the client gets back), `add:` keeps the client's field and adds one, a value
#      that renders empty sends no field; response_headers with $upstream_status and $status
#      reach the client; an unknown variable makes `gatewayd -t` fail at FILE:LINE:COL with a
#      suggestion;
#   2. `return: {status: 308, location: "https://$host$request_uri"}` answers exactly
#      https://<host without port><path>?<query>; a body with variables; a constant location's
#      "$$" is a '$';
#   3. an access log template gives exactly the expected line (secrets redacted); a JSON
#      `fields:` map gives exactly its keys, a numeric variable as a number, a missing header "-";
#      a request refused before its head was read shows nothing of the request before it;
#   4. `gatewayd -T` prints the new keys and the dump loads again.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use JSON::PP ();
use Test::More;
use GatewayTest;
use Backend;

my $backend = Backend->new(name => 'a')->start;

# Routes shared by both instances; the access log differs.
my $routes = <<'CONF';
upstreams:
  app:
    servers: [{address: 127.0.0.1:%%be%%}]
routes:
  - name: redirect
    match: {path_prefix: /old}
    return: {status: 308, location: "https://$host$request_uri"}
  - name: price
    match: {path: /price}
    return: {status: 302, location: '/cost/$$5', body: 'costs $$5'}
  - name: hello
    match: {path: /hello}
    return: {status: 200, body: "hi $remote_addr, ${arg_name}!\n"}
  - name: whoami
    match: {path: /whoami}
    return: {status: 200, body: "$remote_addr:$remote_port $request_method $scheme $server_protocol $route"}
  - name: echo
    match: {path_prefix: /echo}
    upstream: app
    request_headers:
      set: {X-Real-IP: $remote_addr, X-Trace: $request_id, X-Not-Yet: $status}
      add: {X-Multi: 'gw $host', X-Fresh: added}
    response_headers:
      set: {X-Up-Status: $upstream_status}
      add: {X-Status: 'st=$status'}
  - name: status
    match: {path_prefix: /status}
    upstream: app
    response_headers:
      set: {X-Up-Status: $upstream_status}
      add: {X-Status: 'st=$status'}
CONF

sub conf {
    my ($access_log) = @_;
    return conf_head(1) . $access_log . $routes;
}

my $t = GatewayTest->new;
$t->set_port('be', $backend->port);
$t->write_conf(conf(<<'CONF'));
access_log:
  path: logs/access.log
  format: '$remote_addr "$request" $status $body_bytes_sent $request_id $upstream_status'
  flush: 100ms
CONF
$t->start;
my $port = $t->port('http');

# --- 1. header fields with variables --------------------------------------------------------

my $echo;
{
    my $r = http_get($port, '/echo/one?k=v', { 'X-Multi' => 'client' });
    ok($r && $r->{status} == 200, 'proxied /echo/one') or diag(explain($r));
    $echo = parse_json($r->{body});
    my $rid = $r->{headers}{'x-request-id'};
    ok(defined $rid && length $rid, 'the client got an X-Request-Id');
    is(echo_hdr($echo, 'x-real-ip'), '127.0.0.1', 'X-Real-IP: $remote_addr reaches the backend');
    is(echo_hdr($echo, 'x-trace'), $rid, 'X-Trace: $request_id is the id the client got back');
    is_deeply([echo_hdrs($echo, 'x-multi')], ['client', "gw 127.0.0.1"],
              'add: the client\'s field and the added one both arrive, in that order ($host without port)');
    is(echo_hdr($echo, 'x-fresh'), 'added', 'add: a field the client did not send');
    is(echo_hdr($echo, 'x-not-yet'), undef, 'a value that renders empty ($status upstream) sends no field');
    is($r->{headers}{'x-up-status'}, '200', 'response_headers: $upstream_status reaches the client');
    is($r->{headers}{'x-status'}, 'st=200', 'response_headers: $status reaches the client');

    my $s = http_get($port, '/status/503');
    is($s->{status}, 503, 'a 503 from the backend');
    is($s->{headers}{'x-up-status'}, '503', '... $upstream_status 503');
    is($s->{headers}{'x-status'}, 'st=503', '... $status 503');
}

# --- 2. return with location and body -------------------------------------------------------

{
    my $r = http_get($port, '/old/path/x.html?q=1&b=two', { Host => "Old.Example:$port" });
    is($r->{status}, 308, 'return 308');
    is($r->{headers}{location}, 'https://old.example/old/path/x.html?q=1&b=two',
       'location: https://$host$request_uri (host lower-cased, without its port)');
    is(scalar(grep { lc $_->[0] eq 'location' } @{ $r->{header_list} }), 1, 'one location field');

    my $p = http_get($port, '/price');
    is($p->{status}, 302, 'a constant location');
    is($p->{headers}{location}, '/cost/$5', '... "$$" written as "$"');
    is($p->{body}, 'costs $5', '... in a constant body too');

    my $h = http_get($port, '/hello?name=bob');
    is($h->{status}, 200, 'a body with variables');
    is($h->{body}, "hi 127.0.0.1, bob!\n", '... rendered per request');
    my $h2 = http_get($port, '/hello');
    is($h2->{body}, "hi 127.0.0.1, !\n", '... a missing value renders as nothing');

    my $c = http_connect($port);
    $c->send("GET /whoami HTTP/1.0\r\n\r\n");
    my $w = $c->read_response;
    is($w && $w->{body}, '127.0.0.1:' . $c->sock->sockport . ' GET http HTTP/1.0 whoami',
       '$remote_port is the client\'s port; method, scheme, protocol, route');
}

# --- 3a. the log template -------------------------------------------------------------------

{
    my $r = http_get($port, '/echo/log?user=bob&token=s3cret');
    is($r->{status}, 200, 'a request to log');
    my $rid = $r->{headers}{'x-request-id'};
    my $len = length $r->{body};
    my $expected = qq{127.0.0.1 "GET /echo/log?user=bob&token=REDACTED HTTP/1.1" 200 $len $rid 200};
    my $line = wait_until(sub {
        my ($l) = grep { index($_, " $rid ") >= 0 } split /\n/, slurp($t->path('logs/access.log')) // '';
        return $l;
    }, 5);
    is($line, $expected, 'the template line, exactly (the token redacted)');

    my $o = http_get($port, '/old/a');
    my $rid2 = $o->{headers}{'x-request-id'};
    my $line2 = wait_until(sub {
        my ($l) = grep { index($_, " $rid2 ") >= 0 } split /\n/, slurp($t->path('logs/access.log')) // '';
        return $l;
    }, 5);
    is($line2, qq{127.0.0.1 "GET /old/a HTTP/1.1" 308 0 $rid2 -}, 'a local answer: no upstream status, "-"');
}

# --- 1b/4. -t refuses an unknown variable; -T prints the keys and the dump loads -----------

{
    my $d = $t->run('-T', '-p', $t->dir, '-c', $t->conf);
    is($d->{exit}, 0, '-T succeeds') or diag($d->{out});
    like($d->{stdout}, qr/^ +format: "\$remote_addr \\"\$request\\" \$status \$body_bytes_sent \$request_id \$upstream_status"\n/m,
         '-T: the log template');
    like($d->{stdout}, qr/^ +location: "https:\/\/\$host\$request_uri"\n/m, '-T: the return location');
    like($d->{stdout}, qr/^ +add:\n +"x-multi": "gw \$host"\n +"x-fresh": "added"\n/m, '-T: the added fields');
    $t->write_conf($d->{stdout}, 'dumped.conf');
    my $back = $t->run('-t', '-p', $t->dir, '-c', $t->path('dumped.conf'));
    is($back->{exit}, 0, 'the dump loads back') or diag($back->{out});

    my $bad = $t->write_conf(<<'CONF', 'bad.conf');
listeners:
  - address: 127.0.0.1:%%bad%%
upstreams:
  app: {servers: [{address: 127.0.0.1:%%be%%}]}
routes:
  - name: r
    upstream: app
    request_headers:
      set: {X-Real-IP: $remote_adr}
  - {name: s, return: {status: 301, location: 'https://$host$request_urri'}}
access_log: {path: logs/x.log, format: '$remote_addr $staus'}
CONF
    my $e = $t->run('-t', '-p', $t->dir, '-c', $bad);
    isnt($e->{exit}, 0, '-t: unknown variables are refused');
    like($e->{out}, qr/\Q$bad\E:9:24: routes\[0\]\.request_headers\.set\.x-real-ip: unknown variable "\$remote_adr" \(did you mean "\$remote_addr"\?\)/,
         '-t: an unknown variable in a header value, at FILE:LINE:COL with a suggestion');
    like($e->{out}, qr/\Q$bad\E:10:47: routes\[1\]\.return\.location: unknown variable "\$request_urri" \(did you mean "\$request_uri"\?\)/,
         '-t: ... in a location');
    like($e->{out}, qr/\Q$bad\E:11:40: access_log\.format: unknown variable "\$staus" \(did you mean "\$status"\?\)/,
         '-t: ... in a log template');
}

$t->stop;

# --- 3b. JSON fields ------------------------------------------------------------------------

my $j = GatewayTest->new;
$j->set_port('be', $backend->port);
$j->write_conf(conf(<<'CONF'));
access_log:
  path: logs/access.log
  fields: {client: $remote_addr, st: $status, uri: $request_uri, ua: $http_user_agent}
  flush: 100ms
CONF
$j->start;
{
    my $jport = $j->port('http');
    my $r = http_get($jport, '/echo/json?a=1');
    is($r->{status}, 200, 'a request to log as JSON');
    my $e = access_log_entry($j->path('logs/access.log'), '/echo/json?a=1');
    ok($e, 'its JSON line') or diag(slurp($j->path('logs/access.log')));
    is_deeply([sort keys %$e], [qw(client st ua uri)], 'exactly the configured keys');
    is($e->{client}, '127.0.0.1', 'client: $remote_addr');
    is($e->{ua}, '-', 'ua: a missing header is "-"');
    my ($raw) = grep { index($_, '"uri":"/echo/json?a=1"') >= 0 } split /\n/, slurp($j->path('logs/access.log'));
    like($raw, qr/"st":200[,}]/, 'st: a bare number');
    is($raw, '{"client":"127.0.0.1","st":200,"uri":"/echo/json?a=1","ua":"-"}', 'the line, exactly (keys in file order)');

    http_get($jport, '/echo/ua', { 'User-Agent' => 'agent "007"' });
    my $u = access_log_entry($j->path('logs/access.log'), '/echo/ua');
    is($u && $u->{ua}, 'agent "007"', 'ua: a header with quotes survives JSON escaping');
}
$j->stop;

# --- 3c. a request refused before its head was read logs no value of an earlier one ---------

my $k = GatewayTest->new;
$k->write_conf(conf_head(1) . <<'CONF');
access_log: {path: logs/access.log, format: 'ST=$status U=$uri A=$args N=$arg_name R=$request_uri RT=$route', flush: 100ms}
routes:
  - {name: hello, match: {path: /hello}, return: {status: 200, body: "hi"}}
CONF
$k->start;
{
    # Pipelined on one connection: the third "request" starts with a bare LF (400 before its
    # request line is read), on the stream and request object the first two used.
    my $c = http_connect($k->port('http'));
    $c->send("GET /hello?name=first HTTP/1.1\r\nHost: x\r\n\r\n"
             . "GET /hello?name=second HTTP/1.1\r\nHost: x\r\n\r\n\nBAD\r\n\r\n");
    my @r = map { $c->read_response } 1 .. 3;
    is(join(' ', map { $_ ? $_->{status} : 'none' } @r), '200 200 400', 'two answers, then 400');
    my $line = wait_until(sub {
        my ($l) = grep { /^ST=400 / } split /\n/, slurp($k->path('logs/access.log')) // '';
        return $l;
    }, 5);
    is($line, 'ST=400 U=- A=- N=- R=- RT=-', 'the 400\'s line has no path or query of the request before it');

    # Refused after the head was read but before routing: $route is "-" (the worker used to
    # crash reading a route the stream did not have yet).
    my $bad = http_request($k->port('http'), "GET /a%00b?name=x HTTP/1.1\r\nHost: x\r\n\r\n");
    is($bad && $bad->{status}, 400, 'a bad path: 400');
    my $big = http_request($k->port('http'), "POST /hello?name=big HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n");
    is($big && $big->{status}, 413, 'a body too large: 413');
    my $lines = wait_until(sub {
        my @l = grep { m{R=/a%00b|R=/hello\?name=big} } split /\n/, slurp($k->path('logs/access.log')) // '';
        return @l == 2 ? \@l : undef;
    }, 5);
    is_deeply($lines, ['ST=400 U=/a%00b A=name=x N=x R=/a%00b?name=x RT=-', 'ST=413 U=/hello A=name=big N=big R=/hello?name=big RT=hello'],
              'both logged: the bad path without a route, the 413 (a route\'s own limit, decided after routing) with it');
    my $w = http_get($k->port('http'), '/hello');
    is($w && $w->{status}, 200, 'the worker still serves');
    unlike($k->error_log, qr/exited on signal/, 'no worker crashed');
}
$k->stop;

done_testing;
