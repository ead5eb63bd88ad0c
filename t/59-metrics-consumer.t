#!/usr/bin/perl
# gateway_http_requests_total labelled by consumer, only when asked (issue 15, metrics.per_consumer):
#   1. per_consumer: true, max_consumers: 2, 2 workers, API keys: alice and bob have series of
#      their own, a third consumer is counted as consumer="~other", requests without an identity
#      (no key, a wrong key) as consumer=""; every series has the label; the counts are exact
#      summed over the node; each worker logs the cap once;
#   2. the option off (the default): no consumer label at all;
#   3. a reload that turns it on: new workers add the label, old series stay.
# Requests are counted after their stream ended, so /metrics is polled until the counts settle.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Digest::SHA qw(sha256_hex);
use Test::More;
use GatewayTest;

require_modules('auth');

my %key = map { $_ => "k3y-$_-" . join('', map { ('a' .. 'z')[rand 26] } 1 .. 20) } qw(alice bob carol);

sub config {
    my (%o) = @_;
    my $metrics = defined $o{per_consumer}
        ? "metrics: {per_consumer: $o{per_consumer}, max_consumers: $o{max_consumers}}\n" : '';
    return <<"CONF" . $metrics;
worker_processes: $o{workers}
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
auth:
  api_keys:
    keys: {keys_file: api-keys.yaml}
routes:
  - {name: api, match: {path_prefix: /api/}, auth: [keys], return: {body: "ok \$consumer $o{tag}"}}
  - {name: open, match: {path_prefix: /open/}, return: {body: "$o{tag}"}}
CONF
}

sub instance {
    my (%o) = @_;
    my $t = GatewayTest->new;
    spew($t->dir . '/api-keys.yaml', join('', map { "$_:\n  - \"sha256:" . sha256_hex($key{$_}) . "\"\n" } sort keys %key));
    $t->write_conf(config(%o));
    $t->start;
    return $t;
}

sub status { my $r = shift; $r ? $r->{status} : 'no response' }

# A request on a kept-alive connection; returns the response.
sub ask {
    my ($c, $path, $who) = @_;
    my $h = defined $who ? "X-Api-Key: " . ($key{$who} // $who) . "\r\n" : '';
    $c->send("GET $path HTTP/1.1\r\nHost: x\r\n$h\r\n") or return undef;
    return $c->read_response;
}

# The same on a fresh connection (any worker).
sub ask_fresh {
    my ($t, $path, $who) = @_;
    my $c = http_connect($t->port('http')) or return undef;
    my $r = ask($c, $path, $who);
    $c->close;
    return $r;
}

# {"route,code,consumer" => value} of gateway_http_requests_total ("-" for no consumer label).
sub requests_total {
    my ($t) = @_;
    my $m = $t->metrics or return undef;
    my %v;
    for my $s (metric_samples($m, 'gateway_http_requests_total')) {
        my $l = $s->{labels};
        $v{join ',', $l->{route}, $l->{code}, $l->{consumer} // '-'} += $s->{value};
    }
    return \%v;
}

# Polls /metrics until gateway_http_requests_total is exactly %$want (for the keys of %$want
# and no other key matching $also, a regex on the key); returns the last read.
sub settle {
    my ($t, $want, $also) = @_;
    my $got;
    wait_until(sub {
        $got = requests_total($t) or return 0;
        for my $k (keys %$want) { return 0 unless ($got->{$k} // -1) == $want->{$k} }
        for my $k (keys %$got) { return 0 if $k =~ $also && !exists $want->{$k} }
        return 1;
    }, 10);
    return $got;
}

sub show { my $h = shift; join(' ', map { "$_=$h->{$_}" } sort keys %{ $h // {} }) }

# --- 1. per_consumer, cap 2, two workers --------------------------------------------------------
{
    my $t = instance(workers => 2, per_consumer => 'true', max_consumers => 2, tag => 'v1');
    ok(wait_until(sub { my @w = $t->workers; @w == 2 }, 10), 'two workers');

    # One kept-alive connection on each worker, found with /status asked on a kept-alive admin
    # connection (one worker, so its own count does not move): a new client connection raises
    # its worker's count of open connections by one.
    my $admin = http_connect($t->port('admin')) or BAIL_OUT('admin connection');
    my $conns = sub {
        my $r = ask($admin, '/status') or return undef;
        my $s = parse_json($r->{body}) or return undef;
        return { map { $_->{pid} => $_->{connections} } grep { $_->{state} eq 'ready' } @{ $s->{workers} } };
    };
    my (%pinned, @held, $open_requests);
    my $before = $conns->();
    for (1 .. 64) {
        last if keys %pinned == 2;
        my $c = http_connect($t->port('http')) or next;
        push @held, $c;
        is(status(ask($c, '/open/')), 200, 'open') or last;
        $open_requests++;
        my $after = $conns->() or last;
        my @up = grep { ($after->{$_} // 0) == ($before->{$_} // 0) + 1 } keys %$after;
        $pinned{ $up[0] } //= $c if @up == 1;
        $before = $after;
    }
    is(scalar(keys %pinned), 2, 'a kept-alive connection on each worker');
    my @pinned = values %pinned;

    # Each worker labels alice and bob first, so carol is "~other" on both.
    for my $c (@pinned) {
        is(status(ask($c, '/api/1', 'alice')), 200, 'alice: 200');
        is(ask($c, '/api/2', 'bob')->{body}, 'ok bob v1', 'bob: 200, as bob');
        is(status(ask($c, '/api/3', 'carol')), 200, 'carol: 200');
    }
    is(status(ask_fresh($t, '/api/4', 'alice')), 200, 'alice on any worker') for 1 .. 3;
    is(status(ask_fresh($t, '/api/5', 'bob')), 200, 'bob on any worker') for 1 .. 2;
    is(status(ask_fresh($t, '/api/6', 'carol')), 200, 'carol on any worker') for 1 .. 4;
    is(status(ask_fresh($t, '/api/7')), 401, 'no key: 401') for 1 .. 2;
    is(status(ask_fresh($t, '/api/8', 'not-a-key')), 401, 'a wrong key: 401');
    $_->close for @held;

    my $want = {
        'api,200,alice' => 5, 'api,200,bob' => 4, 'api,200,~other' => 6, 'api,401,' => 3,
        'open,200,' => $open_requests,
    };
    my $got = settle($t, $want, qr/^(api|open),/);
    is_deeply({ map { $_ => $got->{$_} } grep { /^(api|open),/ } keys %{ $got // {} } }, $want,
              'gateway_http_requests_total by route, code and consumer, exact over 2 workers')
        or diag(show($got));
    my @unlabelled = grep { /,-$/ } keys %{ $got // {} };
    is_deeply(\@unlabelled, [], 'every series of gateway_http_requests_total has a consumer label');
    ok(!grep({ /carol/ } keys %{ $got // {} }), 'the consumer over the cap has no series of its own');
    my $text = $t->admin_get('/metrics')->{body};
    like($text, qr/^gateway_http_requests_total\{route="api",code="401",consumer=""\} 3$/m,
         'consumer="" in the exposition');

    my $cap_lines = sub { scalar(() = $t->error_log =~ /metrics\.max_consumers \(2\) reached/g) };
    ok(wait_until(sub { $cap_lines->() >= 2 }, 5), 'the cap is logged by each worker');
    is(status(ask_fresh($t, '/api/9', 'carol')), 200, 'carol again');
    settle($t, { %$want, 'api,200,~other' => 7 }, qr/^api,/);
    is($cap_lines->(), 2, '... once per worker, not once per request');
    $t->stop;
}

# --- 2. off (the default), then 3. a reload that turns it on --------------------------------------
{
    my $t = instance(workers => 1, tag => 'v1');
    is(status(ask_fresh($t, '/api/1', 'alice')), 200, 'off: alice');
    is(status(ask_fresh($t, '/api/1', 'carol')), 200, 'off: carol');
    is(status(ask_fresh($t, '/api/1')), 401, 'off: no key');
    my $want = { 'api,200,-' => 2, 'api,401,-' => 1 };
    my $got = settle($t, $want, qr/^api,/);
    is_deeply({ map { $_ => $got->{$_} } grep { /^api,/ } keys %{ $got // {} } }, $want,
              'off: gateway_http_requests_total by route and code') or diag(show($got));
    unlike($t->admin_get('/metrics')->{body}, qr/consumer=/, 'off: no consumer label at all');

    $t->write_conf(config(workers => 1, per_consumer => 'on', max_consumers => 100, tag => 'v2'));
    $t->signal('HUP');
    ok(wait_until(sub { my $r = ask_fresh($t, '/open/'); $r && $r->{body} eq 'v2' }, 10), 'reloaded');
    # A new worker answering is not enough: until the old one drains (it stops accepting), a new
    # connection may still land on it.
    ok(wait_until(sub { !grep { $_->{title} eq 'gatewayd: worker process (generation 1)' } $t->workers }, 10),
       'the old generation stopped accepting');
    is(ask_fresh($t, '/api/2', 'alice')->{body}, 'ok alice v2', 'on after the reload: alice');
    is(status(ask_fresh($t, '/api/2')), 401, 'on after the reload: no key');
    $want = { %$want, 'api,200,alice' => 1, 'api,401,' => 1 };
    $got = settle($t, $want, qr/^api,/);
    is_deeply({ map { $_ => $got->{$_} } grep { /^api,/ } keys %{ $got // {} } }, $want,
              'the old series stay, the new workers add the consumer label') or diag(show($got));
    $t->stop;
}

done_testing;
