#!/usr/bin/perl
# Consistent hashing on each kind of key: cookie:NAME (parsed out of a Cookie header with several
# cookies), path (before strip_prefix: the request's own path) and ip (the client address; all
# test clients are 127.0.0.1, so every request goes to one server). A request without the
# cookie hashes the empty key: stable too.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use GatewayTest;
use Backend;

my %be;
$be{$_} = Backend->new(name => $_)->start for qw(a b c);

my $t = GatewayTest->new;
$t->set_port("be_$_", $be{$_}->port) for keys %be;
my $servers = '[{address: 127.0.0.1:%%be_a%%}, {address: 127.0.0.1:%%be_b%%}, {address: 127.0.0.1:%%be_c%%}]';
$t->write_conf(conf_head(1) . <<"EOF2");
upstreams:
  u-cookie: {balance: hash, hash_key: "cookie:sid", servers: $servers}
  u-path: {balance: hash, hash_key: path, servers: $servers}
  u-ip: {balance: hash, hash_key: ip, servers: $servers}
routes:
  - {name: cookie, match: {path_prefix: /cookie}, strip_prefix: /cookie, upstream: u-cookie}
  - {name: path, match: {path_regex: '^/path/'}, rewrite: '/id', upstream: u-path}
  - {name: ip, match: {path_prefix: /ip}, strip_prefix: /ip, upstream: u-ip}
EOF2
$t->start;
my $port = $t->port('http');

sub served_by {
    my ($path, @headers) = @_;
    my $c = http_connect($port, timeout => 10) or return 'none';
    $c->send(build_request('GET', $path, headers => [@headers ? [@headers] : ()]));
    my $r = $c->read_response;
    return $r ? ($r->{status} == 200 ? $r->{body} : "status $r->{status}") : 'none';
}

sub stable_and_spread {
    my ($what, $key_of) = @_;    # $key_of->($k) returns (path, headers...)
    my (%first, $same);
    $same = 1;
    for my $round (1, 2) {
        for my $k (1 .. 40) {
            my $got = served_by($key_of->($k));
            if ($round == 1) { $first{$k} = $got }
            elsif ($got ne $first{$k}) { $same = 0; diag("$what key $k: $first{$k} then $got") }
        }
    }
    ok($same, "hash on $what: the same key always goes to the same server");
    my %n;
    $n{$_}++ for values %first;
    is(scalar(grep { /^[abc]$/ } keys %n), 3, "hash on $what: 40 keys spread over all three servers")
        or diag(explain \%n);
    return \%first;
}

# cookie:sid, with other cookies around it in varying order
my $by_cookie = stable_and_spread('cookie:sid', sub {
    my $k = shift;
    my $cookie = $k % 2 ? "theme=dark; sid=s$k; lang=en" : "sid=s$k";
    return ('/cookie/id', 'Cookie', $cookie);
});
# the cookie's value alone decides: other cookies do not move the key
is(served_by('/cookie/id', 'Cookie', 'a=1; sid=s2; z=9'), $by_cookie->{2},
   'cookie:sid: other cookies around it do not change the server');
# A key whose server differs from the one for "no cookie", so the next check cannot pass by luck.
my $none = served_by('/cookie/id');
my ($k) = grep { $by_cookie->{$_} ne $none } sort { $a <=> $b } keys %$by_cookie;
ok(defined $k, 'some sid goes elsewhere than the empty key');
is(served_by('/cookie/id', 'Cookie', "xsid=s$k"), $none,
   'cookie:sid: a cookie named xsid is not sid (it hashes like no cookie)');

# path: the request's path before the rewrite
stable_and_spread('path', sub { ('/path/item-' . shift) });

# ip: every client here is 127.0.0.1, so one server takes them all
my %n;
$n{ served_by('/ip/id') }++ for 1 .. 20;
is(scalar(keys %n), 1, 'hash on ip: one client address, one server') or diag(explain \%n);
ok((keys %n)[0] =~ /^[abc]$/, 'hash on ip: and it answered');

done_testing();
