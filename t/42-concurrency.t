#!/usr/bin/perl
# Concurrency limits (`algorithm: concurrency`), with the real binary and two workers, in front of
# a backend that holds every request until the test tells it to answer:
#   1. limit 2: 10 concurrent slow requests -> exactly 2 reach the backend at once, 8 get 429
#      (the JSON body, no Retry-After, no RateLimit-*); once those 2 are answered, 2 more are
#      admitted and a third is not;
#   2. a reload while 2 requests are in flight: the old workers keep their counts until those
#      requests end, and the new workers see them;
#   3. a worker killed with SIGKILL while holding requests in flight: the master gives its counts
#      back when it reaps it, so once it is respawned 2 new requests are admitted again;
#   4. a binary upgrade with requests in flight: the new binary adopts the zones and sees them.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time);
use GatewayTest;
use Backend qw(build_request);
require_modules('ratelimit');

# --- a backend that holds requests ---------------------------------------------------------------
# One process, one select loop. Every request is held, unanswered, until GET /release (on a
# connection of its own) answers them all with 200 "done". GET /stats answers at once with the
# number held now, the most held at once, the total received and the peer ports of the held
# connections (the gateway's side of them, to find which worker holds which).

my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                   Listen => 128, ReuseAddr => 1) or die "listen: $!";
my $holder_port = $listen->sockport;
my $holder = fork // die "fork: $!";
if ($holder == 0) {
    hold_requests($listen);
    POSIX::_exit(0);
}
close $listen;
END { local $?; kill 'KILL', $holder if $holder; waitpid($holder, 0) if $holder }

sub hold_requests {
    my ($ls) = @_;
    my $sel = IO::Select->new($ls);
    my %c;    # fileno -> {sock, buf, held, peer}
    my ($held, $max, $total) = (0, 0, 0);
    my $answer = sub {
        my ($s, $body) = @_;
        syswrite($s, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " . length($body)
                     . "\r\nConnection: close\r\n\r\n$body");
    };
    my $drop = sub {
        my ($fd) = @_;
        my $x = delete $c{$fd} or return;
        $held-- if $x->{held};
        $sel->remove($x->{sock});
        close $x->{sock};
    };
    while (1) {
        for my $s ($sel->can_read(1)) {
            if ($s == $ls) {
                my $n = $ls->accept or next;
                $c{ fileno $n } = { sock => $n, buf => '', held => 0, peer => $n->peerport };
                $sel->add($n);
                next;
            }
            my $x = $c{ fileno $s };
            my $r = sysread($s, my $chunk, 4096);
            if (!$r) { $drop->(fileno $s); next }    # the gateway closed it (or died)
            next if $x->{held};
            $x->{buf} .= $chunk;
            next unless $x->{buf} =~ m{^GET (\S+) HTTP/1\.1\r\n.*?\r\n\r\n}s;
            my $path = $1;
            if ($path eq '/stats') {
                my $peers = join ',', map { $_->{peer} } grep { $_->{held} } values %c;
                $answer->($s, qq({"held":$held,"max":$max,"total":$total,"peers":[$peers]}));
                $drop->(fileno $s);
            } elsif ($path eq '/release') {
                for my $fd (grep { $c{$_}{held} } keys %c) {
                    $answer->($c{$fd}{sock}, 'done');
                    $drop->($fd);
                }
                $max = 0;
                $answer->($s, 'released');
                $drop->(fileno $s);
            } else {
                $x->{held} = 1;
                $held++;
                $total++;
                $max = $held if $held > $max;
            }
        }
    }
}

# --- the gateway ---------------------------------------------------------------------------------

my $t = GatewayTest->new;
$t->set_port('be', $holder_port);
sub config {
    my ($extra) = @_;
    return <<'EOF' . ($extra // '');
worker_processes: 2
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
shutdown_timeout: 5s
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
upstreams:
  app:
    servers: [{address: 127.0.0.1:%%be%%}]
rate_limits:
  in-flight: {key: ip, algorithm: concurrency, limit: 2}
routes:
  - {name: hold, match: {path_prefix: /hold/}, upstream: app, rate_limit: in-flight}
EOF
}
$t->write_conf(config());
$t->start;
my $port = $t->port('http');

sub backend {
    my ($path) = @_;
    my $r = http_get($t->port('be'), $path, {}, timeout => 5);
    return $r && $r->{status} == 200 ? $r->{body} : undef;
}
sub stats { my $b = backend('/stats'); return $b ? parse_json($b) : {} }
sub held { stats()->{held} // -1 }

# Sends one request on a connection of its own.
sub send_hold {
    my ($i) = @_;
    my $c = http_connect($port, timeout => 10) or return undef;
    $c->send(build_request('GET', "/hold/$i", host => 'x')) or return undef;
    return $c;
}

# Reads the responses of the connections in @$conns that have one ready, until $want of them have
# answered or the deadline passes: {index => response}.
sub answered {
    my ($conns, $want, $timeout) = @_;
    my %got;
    wait_until(sub {
        for my $i (0 .. $#$conns) {
            next if exists $got{$i};
            my $c = $conns->[$i] or next;
            next unless length($c->pending) || IO::Select->new($c->sock)->can_read(0);
            $got{$i} = $c->read_response(timeout => 5);
        }
        return keys(%got) >= $want;
    }, $timeout // 10);
    return \%got;
}

# Requests of route "hold" the gateway has finished: a request is counted once its stream has
# ended and its lease is back (the client may have its last byte a moment before).
sub finished { metric_sum($t->metrics, 'gateway_http_requests_total', { route => 'hold' }) // 0 }

# --- 1. limit 2: 10 concurrent slow requests --------------------------------------------------

my $finished_before = finished();
my @conns = map { send_hold($_) } 1 .. 10;
is(scalar(grep { defined } @conns), 10, '10 requests sent, each on its own connection');
my $early = answered(\@conns, 8);
ok(wait_until(sub { held() == 2 }, 10), 'the backend holds 2 of them');
is(scalar(keys %$early), 8, '8 answered at once');
my @st = map { $_ ? $_->{status} : 'none' } values %$early;
is(scalar(grep { $_ eq '429' } @st), 8, '... all with 429') or diag("@st");
my ($one) = grep { $_ } values %$early;
is($one->{body}, qq({"status":429,"error":"too many requests in flight"}\n), '... and the JSON body');
ok(!defined $one->{headers}{'retry-after'}, '... no Retry-After (nothing frees up at a known time)');
ok(!grep({ /^ratelimit-/ } keys %{ $one->{headers} }), '... no RateLimit-* headers');
my $s = stats();
is($s->{max}, 2, 'never more than 2 at the backend at once');
is($s->{total}, 2, 'and only 2 reached it');

is(backend('/release'), 'released', 'the backend answers the 2 it holds');
my $late = answered([map { exists $early->{$_} ? undef : $conns[$_] } 0 .. $#conns], 2);
is(join(' ', map { $_ ? "$_->{status} $_->{body}" : 'none' } values %$late), '200 done 200 done',
   'the 2 admitted requests are answered by the backend');
$_ && $_->close for @conns;
ok(wait_until(sub { finished() == $finished_before + 10 }, 10), 'the gateway has finished all 10');

# Once they are done, 2 more are admitted, and a third is not.
my $finished0 = finished();
my @more = map { send_hold("more$_") } 1 .. 2;
ok(wait_until(sub { held() == 2 }, 10), 'after they finished, 2 new requests reach the backend');
my $third = send_hold('third');
my $r = $third && $third->read_response(timeout => 10);
is($r && $r->{status}, 429, 'a third one gets 429');
is(backend('/release'), 'released', 'released');
is(join(' ', map { my $x = $_->read_response(timeout => 10); $x ? $x->{status} : 'none' } @more), '200 200',
   'both answered');
$_->close for @more, $third;
ok(wait_until(sub { finished() == $finished0 + 3 }, 10), 'the gateway has finished those 3 (their leases are back)');

# --- 2. a reload with requests in flight ----------------------------------------------------------

my @old = map { send_hold("old$_") } 1 .. 2;
ok(wait_until(sub { held() == 2 }, 10), '2 requests in flight on the first generation');
my $gen = $t->status_json->{generation};
$t->write_conf(config("  - {name: new, match: {path: /new}, return: {body: \"new\\n\"}}\n"));
$t->signal('HUP');
ok(wait_until(sub {
        my $st = $t->status_json;
        my $n = http_get($port, '/new', {}, timeout => 2);
        $st && $st->{generation} > $gen && $n && $n->{status} == 200;
    }, 10, 0.05), 'reloaded (with an unrelated change)');
ok(scalar(grep { $_->{title} =~ /generation $gen\b/ } worker_pids($t->pid)), 'the old workers still drain their requests');
$r = send_hold('new-gen')->read_response(timeout => 10);
is($r && $r->{status}, 429, "the new workers see the old ones' requests in flight");
is(backend('/release'), 'released', 'released');
is(join(' ', map { my $x = $_->read_response(timeout => 10); $x ? $x->{status} : 'none' } @old), '200 200',
   'the old generation answered its requests');
$_->close for @old;
ok(wait_until(sub { !grep { $_->{title} =~ /generation $gen\b/ } worker_pids($t->pid) }, 10, 0.05),
   'and its workers exited');
my @new = map { send_hold("new$_") } 1 .. 2;
ok(wait_until(sub { held() == 2 }, 10), 'their counts were given back: 2 new requests are admitted');
is(backend('/release'), 'released', 'released');
is(join(' ', map { my $x = $_->read_response(timeout => 10); $x ? $x->{status} : 'none' } @new), '200 200',
   'both answered');
$_->close for @new;

# --- 3. a worker killed with requests in flight ---------------------------------------------------

# The workers whose sockets are the gateway's side of the backend's held connections.
sub holders {
    my @ports = @{ stats()->{peers} // [] };
    my %inode;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $f or next;
        while (<$fh>) {
            my @f = split;
            next unless ($f[1] // '') =~ /:([0-9A-F]{4})$/;
            my $p = hex $1;
            $inode{ $f[9] } = 1 if grep { $_ == $p } @ports;
        }
    }
    my %pids;
    for my $w ($t->workers) {
        opendir my $d, "/proc/$w->{pid}/fd" or next;
        for (readdir $d) {
            my $l = readlink("/proc/$w->{pid}/fd/$_") // next;
            $pids{ $w->{pid} } = 1 if $l =~ /^socket:\[(\d+)\]$/ && $inode{$1};
        }
    }
    return sort keys %pids;
}

my @held = map { send_hold("dying$_") } 1 .. 2;
ok(wait_until(sub { held() == 2 }, 10), '2 requests in flight');
my @victims;
ok(wait_until(sub { @victims = holders(); @victims }, 5), "the worker(s) holding them: @victims");
my @before = map { $_->{pid} } $t->workers;
ok(kill('KILL', @victims) == @victims, "kill -9 @victims");
ok(wait_until(sub {
        my @now = map { $_->{pid} } $t->workers;
        return @now == 2 && !grep { my $v = $_; grep { $_ == $v } @now } @victims;
    }, 10), 'the master respawned the killed worker(s)');
ok($t->wait_ready(10), 'ready again');
ok(wait_until(sub { held() == 0 }, 10), 'the backend saw the dead worker\'s connections close');
ok(wait_until(sub { $t->error_log =~ /rate limits: \d+ requests? in flight of the exited worker \(slot \d+\) released/ }, 5),
   'the master logged what it gave back') or diag($t->error_log);
$_->close for @held;

my @after = map { send_hold("after$_") } 1 .. 2;
ok(wait_until(sub { held() == 2 }, 10), "the dead worker's count was given back: 2 new requests are admitted");
$third = send_hold('after3');
$r = $third && $third->read_response(timeout => 10);
is($r && $r->{status}, 429, 'and a third one still gets 429');
is(backend('/release'), 'released', 'released');
is(join(' ', map { my $x = $_->read_response(timeout => 10); $x ? $x->{status} : 'none' } @after), '200 200',
   'both answered');
$_->close for @after, $third;

# --- 4. a binary upgrade with requests in flight --------------------------------------------------

my @up = map { send_hold("up$_") } 1 .. 2;
ok(wait_until(sub { held() == 2 }, 10), '2 requests in flight on the old binary');
my $out = $t->path('upgrade.out');
my $cmd = fork // die "fork: $!";
if ($cmd == 0) {
    open STDOUT, '>', $out or POSIX::_exit(126);
    open STDERR, '>&', \*STDOUT or POSIX::_exit(126);
    { exec $GatewayTest::BINARY, '-p', $t->dir, '-c', $t->conf, '-s', 'upgrade' }
    POSIX::_exit(127);
}
my $new_master;
ok(wait_until(sub { ($new_master) = $t->error_log =~ /binary upgrade: new master (\d+) is serving/; $new_master }, 30),
   'a new master serves') or diag(slurp($out));
like($t->error_log, qr/zone "ratelimit_leases" adopted from the previous binary/, 'it adopted the lease zone');
$r = send_hold('during-upgrade')->read_response(timeout => 10);
is($r && $r->{status}, 429, 'during the upgrade a third request gets 429: both binaries count in the same zone');
is(backend('/release'), 'released', 'released');
is(join(' ', map { my $x = $_->read_response(timeout => 10); $x ? $x->{status} : 'none' } @up), '200 200',
   'the old binary answered its requests');
$_->close for @up;
is(waitpid($cmd, 0) == $cmd && $?, 0, 'the upgrade is done') or diag(slurp($out));
$t->wait_exit(10);
$t->adopt_master($new_master) if $new_master;
@up = map { send_hold("upgraded$_") } 1 .. 2;
ok(wait_until(sub { held() == 2 }, 10), 'on the new binary alone, 2 new requests are admitted');
$r = send_hold('upgraded3')->read_response(timeout => 10);
is($r && $r->{status}, 429, 'and a third one gets 429');
is(backend('/release'), 'released', 'released');
is(join(' ', map { my $x = $_->read_response(timeout => 10); $x ? $x->{status} : 'none' } @up), '200 200',
   'both answered');
$_->close for @up;

$t->stop;
done_testing();
