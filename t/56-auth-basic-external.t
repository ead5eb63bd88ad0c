#!/usr/bin/perl
# Basic auth and external authorization (issue 15), with the real binary, a real backend and a
# real authorizer (t/helpers/authz.py, Python's standard library):
#   1. basic: a bcrypt and a sha512-crypt user, right and wrong passwords, an unknown user (as
#      slow as a known one: checked against a real hash), malformed credentials, the challenge,
#      the user as $consumer, the good-check cache;
#   2. the failure limit: 429 (Retry-After) after 10 failures from one client address, even with
#      the right password; another address is not affected;
#   3. 20 bcrypt checks at once do not hold up a request to a plain route (they run on the
#      worker's crypt thread, not on its event loop);
#   4. external: allow (the authorizer's x-user-id reaches the backend, the client's own never
#      does; X-Original-Method/-URI and the forwarded field reach the authorizer), 401 with the
#      authorizer's challenge, 403, an error status, a timeout and a dead authorizer (on_error
#      deny: 503; allow: passed on without identity), X-Consumer as $consumer; cache: N identical
#      requests cost the authorizer one;
#   5. gateway_auth_requests_total; -T round trip.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time);
use Test::More;
use GatewayTest;
use Backend;

my $t = GatewayTest->new;
require_modules('auth');
my $python = '/usr/bin/python3';
plan skip_all => "$python is not installed" unless -x $python;

# Hashes made here with Perl's crypt(), which is libxcrypt's: alice bcrypt (cost 10), bob
# sha512-crypt. alice sorts first: her hash is the dummy an unknown user is checked against.
my %pw = (alice => 'correct horse', bob => 'b0b:with:colons');
my $alice_hash = crypt($pw{alice}, '$2b$10$' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 21) . 'u');
my $bob_hash = crypt($pw{bob}, '$6$' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 16) . '$');
like($alice_hash, qr/^\$2b\$10\$.{53}$/, 'a bcrypt hash made for the test');
like($bob_hash, qr/^\$6\$/, 'a sha512-crypt hash made for the test');
spew($t->dir . '/ops.htpasswd', "# ops\nalice:$alice_hash\nbob:$bob_hash\n");

# The authorizer.
my $authz_log = $t->dir . '/authz.log';
my $authz_pid = open(my $authz_out, '-|', $python, "$FindBin::Bin/helpers/authz.py", $authz_log)
    or BAIL_OUT("cannot start authz.py: $!");
my $authz_port = <$authz_out>;
BAIL_OUT('authz.py did not start') unless defined $authz_port;
chomp $authz_port;
sub stop_authz {
    return unless $authz_pid;
    kill 'TERM', $authz_pid;
    close $authz_out;  # reaps it
    $authz_pid = undef;
}
END { stop_authz() }
$t->set_port('authz', $authz_port);
$t->set_port('dead', Backend::dead_port());

my $backend = Backend->new(name => 'be')->start;
$t->set_port('be', $backend->port);
$t->write_conf(<<'CONF');
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
access_log: {path: logs/access.log, format: json, fields: {uri: $request_uri, status: $status, consumer: $consumer}, flush: 100ms}
real_ip: {from: x-forwarded-for, trusted: [127.0.0.1]}
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
upstreams:
  be:
    servers: [{address: 127.0.0.1:%%be%%}]
auth:
  basic:
    ops: {htpasswd: ops.htpasswd, realm: "Ops area"}
  external:
    authz:
      url: http://127.0.0.1:%%authz%%/check?v=1
      timeout: 500ms
      forward_headers: [authorization]
      copy_headers: [x-user-id]
      on_error: deny
    authz-cached: {url: "http://127.0.0.1:%%authz%%/cached", cache: 30s, forward_headers: [authorization], copy_headers: [x-user-id]}
    authz-open: {url: "http://127.0.0.1:%%authz%%/open", timeout: 300ms, forward_headers: [authorization], on_error: allow}
    authz-dead: {url: "http://127.0.0.1:%%dead%%/check", timeout: 300ms}
routes:
  - {name: ops, match: {path_prefix: /ops/}, auth: [ops], return: {body: "ops $consumer"}}
  - {name: ext, match: {path_prefix: /ext/}, auth: [authz], upstream: be}
  - {name: extc, match: {path_prefix: /extc/}, auth: [authz-cached], return: {body: "extc $consumer"}}
  - {name: exto, match: {path_prefix: /exto/}, auth: [authz-open], return: {body: "exto [$consumer]"}}
  - {name: extd, match: {path_prefix: /extd/}, auth: [authz-dead], return: {body: "extd"}}
  - {name: open, match: {path_prefix: /}, return: {body: "open"}}
CONF
$t->start;
my $port = $t->port('http');

my $next_ip = 1;
sub fresh_ip { '198.18.' . int($next_ip / 250) . '.' . ($next_ip++ % 250 + 1) }
sub get { my ($path, %h) = @_; $h{'X-Forwarded-For'} //= '192.0.2.1'; http_get($port, $path, \%h) }
sub basic { my ($user, $pass) = @_; (Authorization => 'Basic ' . encode_base64("$user:$pass", '')) }
sub status { my $r = shift; $r ? $r->{status} : 'no response' }
sub challenge { my $r = shift; $r ? $r->{headers}{'www-authenticate'} // '' : '' }
sub timed { my $t0 = time; my $r = shift->(); return ($r, time - $t0) }

# --- 1. basic -------------------------------------------------------------------------------------
{
    my $r = get('/ops/x');
    is(status($r), 401, 'basic: no credentials: 401');
    is(challenge($r), 'Basic realm="Ops area", charset="UTF-8"', '... with the Basic challenge');
    $r = get('/ops/a', basic(alice => $pw{alice}), 'X-Forwarded-For' => fresh_ip());
    is(status($r), 200, 'bcrypt user, right password: 200');
    is($r->{body}, 'ops alice', '... the user is $consumer');
    $r = get('/ops/b', basic(bob => $pw{bob}), 'X-Forwarded-For' => fresh_ip());
    is(status($r), 200, 'sha512-crypt user, right password (with colons in it): 200');
    is($r->{body}, 'ops bob', '... as bob');
    $r = get('/ops/c', basic(alice => 'wrong'), 'X-Forwarded-For' => fresh_ip());
    is(status($r), 401, 'wrong password: 401');
    is(challenge($r), 'Basic realm="Ops area", charset="UTF-8"', '... with the challenge');
    is(status(get('/ops/d', basic(bob => $pw{alice}), 'X-Forwarded-For' => fresh_ip())), 401, 'another user\'s password: 401');
    is(status(get('/ops/e', basic(mallory => $pw{alice}), 'X-Forwarded-For' => fresh_ip())), 401,
       'an unknown user (with a password of the file): 401');
    is(status(get('/ops/f', Authorization => 'Basic !!notbase64', 'X-Forwarded-For' => fresh_ip())), 401, 'not base64: 401');
    is(status(get('/ops/g', Authorization => 'Basic ' . encode_base64('nocolon', ''), 'X-Forwarded-For' => fresh_ip())), 401,
       'no colon: 401');
    is(status(get('/ops/h', Authorization => 'Bearer abc', 'X-Forwarded-For' => fresh_ip())), 401,
       'another scheme is no basic credential: 401');

    # An unknown user costs a real check (the dummy hash is alice's bcrypt): not answered much
    # faster than a known user's wrong password. Medians of 5, each from a fresh address.
    my (@known, @unknown);
    for (1 .. 5) {
        push @known, (timed(sub { get('/ops/t', basic(alice => "nope$_"), 'X-Forwarded-For' => fresh_ip()) }))[1];
        push @unknown, (timed(sub { get('/ops/t', basic("nobody$_" => "nope$_"), 'X-Forwarded-For' => fresh_ip()) }))[1];
    }
    my $median = sub { my @s = sort { $a <=> $b } @_; $s[@s / 2] };
    my ($mk, $mu) = ($median->(@known), $median->(@unknown));
    cmp_ok($mu, '>', $mk / 3, sprintf('an unknown user takes about as long as a known one (%.0f ms vs %.0f ms)', $mu * 1000, $mk * 1000));

    # The good-check cache: the same credentials again cost a lookup, not a bcrypt check.
    my $ip = fresh_ip();
    my ($first, $slow) = timed(sub { get('/ops/cache', basic(alice => 'correct horse'), 'X-Forwarded-For' => $ip) });
    is(status($first), 200, 'cache: first check: 200');
    my ($n_ok, $fast) = (0, 0);
    my $t0 = time;
    $n_ok += status(get('/ops/cache', basic(alice => 'correct horse'), 'X-Forwarded-For' => $ip)) == 200 ? 1 : 0 for 1 .. 5;
    $fast = time - $t0;
    is($n_ok, 5, '... the same credentials again: 200 x5');
    cmp_ok($fast, '<', 5 * $mk, sprintf('... five cached checks (%.0f ms) cost less than five bcrypt checks (%.0f ms each)', $fast * 1000, $mk * 1000));
    is(status(get('/ops/cache', basic(alice => 'correct horsE'), 'X-Forwarded-For' => $ip)), 401,
       '... a different password is never a cache hit');
}

# --- 2. the failure limit ------------------------------------------------------------------------
{
    my $ip = '203.0.113.9';
    my @st = map { status(get('/ops/guess', basic(bob => "guess$_"), 'X-Forwarded-For' => $ip)) } 1 .. 10;
    is_deeply(\@st, [(401) x 10], 'ten wrong passwords from one address: 401 each');
    my $r = get('/ops/guess', basic(bob => 'guess11'), 'X-Forwarded-For' => $ip);
    is(status($r), 429, 'the eleventh attempt: 429');
    like($r->{headers}{'retry-after'} // '', qr/^(59|60)$/, '... with Retry-After: 60');
    is(status(get('/ops/guess', basic(bob => $pw{bob}), 'X-Forwarded-For' => $ip)), 429,
       '... even with the right password (the address is blocked)');
    is(status(get('/ops/guess', basic(bob => $pw{bob}), 'X-Forwarded-For' => '203.0.113.10')), 200,
       'another address: 200');
    is(status(get('/open', 'X-Forwarded-For' => $ip)), 200, 'a route without basic auth is not affected');
}

# --- 3. bcrypt checks off the loop ---------------------------------------------------------------
{
    # 20 checks with wrong passwords (never cached), each from its own address (no limit).
    my @conns;
    for my $i (1 .. 20) {
        my $c = http_connect($port) or BAIL_OUT('cannot connect');
        my %h = basic(alice => "wrong-$i");
        $c->send("GET /ops/busy$i HTTP/1.1\r\nHost: x\r\nAuthorization: $h{Authorization}\r\nX-Forwarded-For: 10.9.0.$i\r\n\r\n");
        push @conns, $c;
    }
    my ($plain, $took) = timed(sub { get('/open/plain') });
    my $plain_done = time;
    is(status($plain), 200, 'a plain request while 20 bcrypt checks run: 200');
    my @st = map { status($_->read_response) } @conns;
    my $last_done = time;
    is_deeply(\@st, [(401) x 20], '... the 20 checks all answered 401');
    cmp_ok($plain_done, '<', $last_done, sprintf('... the plain request (%.0f ms) was answered before the checks were done (%.0f ms after)',
                                                 $took * 1000, ($last_done - $plain_done) * 1000));
    cmp_ok($took, '<', 0.5, '... and fast');
}

# --- 4. external --------------------------------------------------------------------------------
sub authz_requests { my @l = split /\n/, (slurp($authz_log) // ''); [map { parse_json($_) } @l] }
{
    my $r = get('/ext/orders?id=7', Authorization => 'Bearer allow-alice', 'X-User-Id' => 'admin');
    is(status($r), 200, 'external: the authorizer allows: 200');
    my $j = parse_json($r->{body});
    is_deeply([echo_hdrs($j, 'x-user-id')], ['alice'], '... its x-user-id reaches the backend, the client\'s own does not');
    my $seen = authz_requests()->[-1];
    is($seen->{path}, '/check?v=1', '... the authorizer is asked at its url');
    is($seen->{method}, 'GET', '... X-Original-Method');
    is($seen->{uri}, '/ext/orders?id=7', '... X-Original-URI');
    is($seen->{authorization}, 'Bearer allow-alice', '... the forwarded field');
    ok(!grep({ $_ eq 'x-user-id' } @{ $seen->{forwarded} }), '... and no field it was not told to forward');
    is($seen->{host}, "127.0.0.1:$authz_port", '... Host is the url\'s authority');

    $r = get('/ext/a', 'X-User-Id' => 'admin');
    is(status($r), 401, 'the authorizer says 401: 401');
    is(challenge($r), 'Bearer realm="authz"', '... with the authorizer\'s challenge');
    $r = get('/ext/b', Authorization => 'Bearer deny');
    is(status($r), 403, 'the authorizer says 403: 403');
    is($backend->count_requests(qr{^/ext/[ab]$}), 0, '... neither reached the backend');
    is(status(get('/ext/c', Authorization => 'Bearer boom')), 503, 'the authorizer fails (500), on_error deny: 503');
    my ($slow, $took) = timed(sub { get('/ext/d', Authorization => 'Bearer slow') });
    is(status($slow), 503, 'the authorizer times out, on_error deny: 503');
    cmp_ok($took, '<', 1.8, sprintf('... after the timeout (%.0f ms), not the authorizer\'s 2 s', $took * 1000));
    is(status(get('/extd/x')), 503, 'a dead authorizer, on_error deny: 503');

    $r = get('/exto/a', Authorization => 'Bearer slow');
    is(status($r), 200, 'a timeout with on_error allow: 200');
    is($r->{body}, 'exto []', '... without an identity (an empty $consumer)');
    $r = get('/exto/b', Authorization => 'Bearer allow');
    is($r->{body}, 'exto [authz-open]', 'allowed without X-Consumer: the consumer is the provider name');
    $r = get('/exto/c', Authorization => 'Bearer allow-carol');
    is($r->{body}, 'exto [carol]', 'allowed with X-Consumer: that is the consumer');
    is(status(get('/exto/d', Authorization => 'Bearer deny')), 403, 'on_error allow does not turn a 403 into a pass');

    # The cache: N identical requests, one question.
    my $before = scalar @{ authz_requests() };
    my @bodies = map { get("/extc/$_", Authorization => 'Bearer allow-dave')->{body} } 1 .. 5;
    is_deeply(\@bodies, [('extc dave') x 5], 'cache: five identical requests allowed');
    my @asked = grep { $_->{path} eq '/cached' } @{ authz_requests() }[$before .. $#{ authz_requests() }];
    is(scalar @asked, 1, '... the authorizer saw one of them');
    is(status(get('/extc/x', Authorization => 'Bearer deny')), 403, '... another credential is asked: 403');
    is(status(get('/extc/y', Authorization => 'Bearer deny')), 403, '... and its refusal is cached too');
    @asked = grep { $_->{path} eq '/cached' } @{ authz_requests() }[$before .. $#{ authz_requests() }];
    is(scalar @asked, 2, '... the authorizer saw two questions in all');
}

# --- 5. metrics, logs, -T -----------------------------------------------------------------------
{
    my $m = $t->metrics;
    cmp_ok(metric_sum($m, 'gateway_auth_requests_total', { provider => 'ops', result => 'ok' }) // 0, '>=', 3,
           'gateway_auth_requests_total counts basic successes');
    cmp_ok(metric_sum($m, 'gateway_auth_requests_total', { provider => 'authz', result => 'forbidden' }) // 0, '>=', 1,
           '... and external refusals');
    my $log = $t->error_log;
    unlike($log, qr/\Q$pw{alice}\E|\Q$pw{bob}\E|guess1|allow-alice/, 'no password or credential in the error log');
    like($log, qr/request refused by auth \(route "ops", provider "ops"\): wrong user name or password/,
         'a basic refusal is logged at info');
    my $r = $t->run('-T', '-p', $t->dir, '-c', $t->conf);
    is($r->{exit}, 0, 'gatewayd -T') or diag($r->{out});
    like($r->{stdout}, qr/  basic:\n    "ops":\n      htpasswd: ".*ops.htpasswd"\n      realm: "Ops area"/, '... prints the basic provider');
    like($r->{stdout}, qr/    "authz":\n      url: "http:\/\/127.0.0.1:\d+\/check\?v=1"\n      timeout: 500ms\n      cache: 0/,
         '... and the external one');
    spew($t->path('dumped.conf'), $r->{stdout});
    my $back = $t->run('-t', '-p', $t->dir, '-c', $t->path('dumped.conf'));
    is($back->{exit}, 0, '... and the dump loads again') or diag($back->{out});

    my $bad = $t->path('bad.conf');
    spew($bad, <<'BAD');
listeners: [{address: 127.0.0.1:1}]
auth:
  external:
    ftp: {url: "ftp://127.0.0.1/check"}
    ok: {url: "http://127.0.0.1:9/check", copy_headers: [x-user-id]}
upstreams: {be: {servers: [{address: 127.0.0.1:9}]}}
routes:
  - {name: a, match: {path_prefix: /}, auth: [ok], request_headers: {set: {x-user-id: me}}, upstream: be}
BAD
    my $e = $t->run('-t', '-p', $t->dir, '-c', $bad);
    isnt($e->{exit}, 0, 'gatewayd -t refuses a bad external provider');
    like($e->{out}, qr/bad\.conf:4:\d+: auth\.external\.ftp\.url: expected an http:\/\/ or https:\/\/ URL/, '... a URL neither http:// nor https://, at FILE:LINE:COL');
    like($e->{out}, qr/bad\.conf:8:\d+: routes\[0\]\.auth: provider "ok" copies x-user-id from the authorizer, which request_headers also sets/,
         '... a copied header the route also sets');
}

$t->stop;
stop_authz();
done_testing;
