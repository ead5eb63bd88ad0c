#!/usr/bin/perl
# Sticky canaries: a `split` keyed by a cookie (`split_by: cookie:uid`) keeps each user on one side
# on every worker, spreads many users by the weights, and still serves requests without the
# cookie (weighted round robin).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use GatewayTest;
use Backend;

my %be;
$be{$_} = Backend->new(name => $_)->start for qw(stable canary);

my $t = GatewayTest->new;
$t->set_port("be_$_", $be{$_}->port) for keys %be;
$t->write_conf(conf_head(2) . <<'EOF');
upstreams:
  stable: {servers: [{address: 127.0.0.1:%%be_stable%%}]}
  canary: {servers: [{address: 127.0.0.1:%%be_canary%%}]}
routes:
  - name: web
    split: [{upstream: stable, weight: 90}, {upstream: canary, weight: 10}]
    split_by: cookie:uid
EOF
$t->start;
my $port = $t->port('http');

# $n GETs of /id with the given headers; a new connection for each with $fresh (so that the
# requests reach both workers), else one keep-alive connection. Returns the answering backends.
sub gets {
    my ($n, $fresh, @h) = @_;
    my (@out, $c);
    for (1 .. $n) {
        $c = http_connect($port, timeout => 10) if $fresh || !$c || $c->is_eof;
        $c->send(build_request('GET', '/id', headers => [@h]));
        my $r = $c->read_response;
        push @out, $r ? ($r->{status} == 200 ? $r->{body} : "status $r->{status}") : 'none';
        $c = undef if !$r || lc($r->{headers}{connection} // '') eq 'close';
    }
    return @out;
}

sub tally {
    my %n;
    $n{$_}++ for @_;
    return \%n;
}

# --- one user, many requests -----------------------------------------------------------------------

for my $uid ('alice', 'u-1002') {
    my $n = tally(gets(50, 1, ['Cookie', "theme=dark; uid=$uid"]), gets(50, 0, ['Cookie', "uid=$uid"]));
    is(scalar(keys %$n), 1, "uid=$uid: 100 requests (new connections and keep-alive) all on one side")
        or diag(explain $n);
    my ($side) = keys %$n;
    like($side, qr/^(stable|canary)$/, "uid=$uid: answered by $side");
}

# --- many users --------------------------------------------------------------------------------------

my %side;
$side{$_} = (gets(1, 1, ['Cookie', "uid=user$_"]))[0] for 1 .. 1000;
my $n = tally(values %side);
is(($n->{stable} // 0) + ($n->{canary} // 0), 1000, 'many users: 1000 answers') or diag(explain $n);
my $canary = $n->{canary} // 0;
ok($canary >= 50 && $canary <= 150, "many users: the canary has $canary of 1000 users (10% +- 5%)");

# The same users again, on fresh connections (so on either worker): nobody changes side.
my @moved = grep { (gets(1, 1, ['Cookie', "uid=user$_"]))[0] ne $side{$_} } 1 .. 200;
is(scalar(@moved), 0, 'many users: 200 of them again, every one on the same side')
    or diag("moved: @moved[0 .. ($#moved < 9 ? $#moved : 9)]");

# --- no key -----------------------------------------------------------------------------------------

{
    my $n = tally(gets(100, 0));
    my $c = $n->{canary} // 0;
    is(($n->{stable} // 0) + $c, 100, 'no cookie: 100 requests answered') or diag(explain $n);
    ok($c >= 9 && $c <= 11, "no cookie: weighted round robin, the canary got $c of 100 (10 expected)");
    my $n2 = tally(gets(20, 0, ['Cookie', 'session=abc; uid=']));
    is(($n2->{stable} // 0) + ($n2->{canary} // 0), 20, 'other cookies, an empty uid: answered')
        or diag(explain $n2);
    ok(($n2->{canary} // 0) >= 1, 'an empty uid is no key: round robin reaches the canary too')
        or diag(explain $n2);
}

$t->stop;
done_testing();
