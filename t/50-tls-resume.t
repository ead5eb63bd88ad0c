#!/usr/bin/perl
# TLS session resumption shared by every worker and kept across reloads and binary upgrades
# (issue 14, phase 2): the real binary with two workers, openssl s_client -sess_out/-sess_in.
#   1. the shared cache alone (session_tickets: off), TLS 1.2 and 1.3 (stateful tickets), and
#      tickets alone (session_cache: off): connections are made until both workers have resumed
#      a session (which worker served a connection: the pid of its debug line in the error log),
#      and at least one session resumed on a worker other than the one that made it;
#   2. no resumption across certificate groups (another SNI name) nor across listeners with
#      another client-auth policy;
#   3. a ticket older than two rotations (rotate: 2s) gets a full handshake, which succeeds;
#   4. after a reload (HUP) and after `gatewayd -s upgrade`, sessions made before resume, by the
#      cache and by tickets; the zones are adopted by the new binary; a reload that resizes the
#      cache starts it empty (its sessions get a full handshake), tickets still resume;
#   5. `gatewayd -T` prints session_cache and session_tickets, and its output loads again;
#   6. two nodes on one port (SO_REUSEPORT) sharing ticket keys through a real redis-server: a
#      ticket node A issued resumes on node B; with Redis stopped, tickets still resume and full
#      handshakes succeed.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use TestCerts;
use RedisServer;

my $t = GatewayTest->new;
require_modules('tls');
plan skip_all => 'the openssl command is not installed' unless system('openssl version >/dev/null 2>&1') == 0;
my $started = time;

my $dir = $t->dir;
my $certs = TestCerts->new($dir);
sub openssl { $certs->openssl(shift) }    # in $dir; a failure ends the test
my $ec = $TestCerts::EC;
openssl("req -x509 $ec -keyout a.key -out a.pem -days 30 -subj /CN=a.test -addext subjectAltName=DNS:a.test");
openssl("req -x509 $ec -keyout b.key -out b.pem -days 30 -subj /CN=b.test -addext subjectAltName=DNS:b.test");
openssl("req -x509 $ec -keyout ca.key -out ca.pem -days 30 -subj /CN=Clients");

my $conf = <<'CONF';
worker_processes: 2
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: debug}
listeners:
  - address: 127.0.0.1:%%cache%%
    tls:
      certificates: [{cert: a.pem, key: a.key}]
      session_cache: 1m
      session_tickets: off
  - address: 127.0.0.1:%%tickets%%
    tls:
      certificates: [{cert: a.pem, key: a.key}]
      session_cache: off
      session_tickets: {rotate: 1h}
  - address: 127.0.0.1:%%short%%
    tls:
      certificates: [{cert: a.pem, key: a.key}]
      session_cache: off
      session_tickets: {rotate: 2s}
  - address: 127.0.0.1:%%both%%
    tls:
      certificates: [{cert: a.pem, key: a.key}, {cert: b.pem, key: b.key}]
  - address: 127.0.0.1:%%mtls%%
    tls:
      certificates: [{cert: a.pem, key: a.key}, {cert: b.pem, key: b.key}]
      client_auth: {ca: ca.pem, mode: optional}
  - {address: 127.0.0.1:%%admin%%, admin: true}
routes:
  - name: reused
    match: {path_prefix: /}
    return: {status: 200, body: "reused=$ssl_session_reused\n"}
CONF
$t->write_conf($conf);
$t->start;
my %port = map { $_ => $t->port($_) } qw(cache tickets short both mtls);

my $req = "GET /r HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";
spew($t->path('req'), $req);

# The error log from where the last call left it: what the connections since wrote.
my $log_offset = 0;
sub new_log {
    my $log = $t->error_log;
    my $new = substr($log, $log_offset);
    $log_offset = length $log;
    return $new;
}
new_log();

# One connection: s_client to $port with TLS $v ("1_2", "1_3"), SNI $sni, resuming $in (a session
# file) if given, keeping its session in $out if given. Returns (New|Reused|failed, the pid of
# the worker whose debug line matches $served_by, s_client's output).
my $sessions = 0;
sub connect_tls {
    my (%o) = @_;
    my $opts = "-tls$o{v} -servername " . ($o{sni} // 'a.test') . ' -ign_eof';
    $opts .= " -sess_in '$o{in}'" if $o{in};
    $opts .= " -sess_out '$o{out}'" if $o{out};
    $opts .= " $o{extra}" if $o{extra};
    my $in = $t->path('req');
    my $out = `timeout 10 openssl s_client -connect 127.0.0.1:$o{port} $opts <'$in' 2>&1`;
    my ($kind) = $out =~ /^(New|Reused), TLSv/m;
    $kind = 'failed' unless $kind && $out =~ /^reused=/m;
    my $pid;
    if ($o{served_by}) {
        # The worker writes its line during the handshake, before the response: it is there.
        ($pid) = new_log() =~ /^\S+ \S+ \[debug\] (\d+)#0: $o{served_by}/m;
    }
    return ($kind, $pid, $out);
}

sub session_file { $t->path('sess' . ++$sessions . '.pem') }

# --- 1. every worker resumes, with the cache alone and with tickets alone -------------------

my %served_by = (
    cache   => { made => qr/TLS session stored in the shared cache/, resumed => qr/TLS session found in the shared cache/ },
    tickets => { made => qr/TLS session ticket issued/, resumed => qr/TLS session ticket under the current key/ },
);
my %last;    # "kind v" -> the latest session file, for the reload and the upgrade
for my $kind (qw(cache tickets)) {
    for my $v (qw(1_2 1_3)) {
        my @workers = map { $_->{pid} } $t->workers;
        is(scalar @workers, 2, 'two workers');
        my $file = session_file();
        new_log();
        my ($got, $maker) = connect_tls(port => $port{$kind}, v => $v, out => $file, served_by => $served_by{$kind}{made});
        is($got, 'New', "$kind, TLS $v: a first connection is a full handshake");
        ok($maker, '... made by a worker') or diag(new_log());
        # Resume (each connection's new session next: a TLS 1.3 stateful ticket is single-use)
        # until both workers have resumed a session, with a deadline.
        my (%resumed_on, $across, @kinds);
        my $deadline = time + 15;
        while (time < $deadline && keys %resumed_on < 2) {
            my $next = session_file();
            my ($k, $pid, $out) = connect_tls(port => $port{$kind}, v => $v, in => $file, out => $next,
                                              served_by => $served_by{$kind}{resumed});
            push @kinds, $k;
            last unless $k eq 'Reused' && $pid;
            $resumed_on{$pid}++;
            $across++ if $pid != $maker;
            # TLS 1.3 makes a new session (a new ticket) on resumption; TLS 1.2 keeps the one it resumed.
            $maker = $pid if $v eq '1_3';
            $file = $next if -s $next;
        }
        is_deeply([grep { $_ ne 'Reused' } @kinds], [], "$kind, TLS $v: every later connection resumes");
        is(scalar(keys %resumed_on), 2, '... on both workers') or diag(explain(\%resumed_on));
        ok($across, '... a session made by one worker resumed on the other');
        $last{"$kind $v"} = $file;
    }
}

# --- 2. scoped: not across certificate groups, nor across client-auth policies --------------

for my $v (qw(1_2 1_3)) {
    my $file = session_file();
    my ($got) = connect_tls(port => $port{both}, v => $v, out => $file);
    is($got, 'New', "TLS $v, cache and tickets: a first connection");
    is((connect_tls(port => $port{both}, v => $v, in => $file))[0], 'Reused', '... resumes under its name');
    is((connect_tls(port => $port{both}, v => $v, in => $file, sni => 'b.test'))[0], 'New',
       '... not under the other certificate');
    is((connect_tls(port => $port{mtls}, v => $v, in => $file))[0], 'New',
       '... not on a listener with another client-auth policy (same certificates)');
    my ($again) = connect_tls(port => $port{both}, v => $v, in => $file);
    is($again, 'Reused', '... and still resumes where it was made');
}

# --- 3. a ticket two rotations old gets a full handshake -----------------------------------

{
    my $rotations = sub { scalar(() = $t->error_log =~ /TLS listener 127\.0\.0\.1:$port{short}: session ticket keys rotated/g) };
    my $file = session_file();
    my ($got) = connect_tls(port => $port{short}, v => '1_3', out => $file);
    is($got, 'New', 'rotate 2s: a first connection');
    my $at = $rotations->();
    is((connect_tls(port => $port{short}, v => '1_3', in => $file))[0], 'Reused', '... its ticket resumes at once')
        if $rotations->() == $at;
    ok(wait_until(sub { $rotations->() >= $at + 2 }, 10), '... the keys rotate twice')
        or diag($t->error_log =~ /(.*rotated.*)/g);
    new_log();
    my ($late) = connect_tls(port => $port{short}, v => '1_3', in => $file);
    is($late, 'New', '... then the ticket gets a full handshake (which succeeds)');
    like(new_log(), qr/TLS session ticket under an unknown key/, '... its key was forgotten');
}

# Every session kept in %last resumes (each resumption keeps the newest session for the next).
sub resume_all {
    my ($when) = @_;
    for my $key (sort keys %last) {
        my ($kind, $v) = split ' ', $key;
        my $next = session_file();
        my ($got) = connect_tls(port => $port{$kind}, v => $v, in => $last{$key}, out => $next);
        is($got, 'Reused', "$when: a session of the $kind, TLS $v, made before, resumes");
        $last{$key} = $next if -s $next;
    }
}

# --- 4. across a reload and a binary upgrade -------------------------------------------------

{
    $t->write_conf($conf . "# reloaded\n");
    my $gen0 = $t->status_json->{generation};
    $t->signal('HUP');
    ok(wait_until(sub { my $s = $t->status_json; $s && $s->{generation} > $gen0
                            && !grep { $_->{generation} == $gen0 } @{ $s->{workers} } }, 10),
       'reloaded: the new generation serves alone');
    resume_all('after a reload');
}

{
    my $r = $t->run({ timeout => 20 }, '-p', $t->dir, '-c', $t->conf, '-s', 'upgrade');
    is($r->{exit}, 0, 'gatewayd -s upgrade') or diag($r->{out});
    my ($new) = $r->{out} =~ /done: master (\d+) serves/;
    $t->adopt_master($new) if $new;
    my $log = $t->error_log;
    like($log, qr/shared memory zone "tls-sessions\.127\.0\.0\.1_$port{cache}" adopted from the previous binary, with its TLS sessions/,
         'the session cache zone was adopted');
    like($log, qr/shared memory zone "tls-tickets\.127\.0\.0\.1_$port{tickets}" adopted from the previous binary, with its session ticket keys/,
         'the ticket key zone was adopted');
    resume_all('after a binary upgrade');
}

# A reload that resizes a listener's cache starts it empty; the ticket keys stay.
{
    (my $resized = $conf) =~ s/session_cache: 1m/session_cache: 2m/ or die;
    $t->write_conf($resized);
    my $gen0 = $t->status_json->{generation};
    $t->signal('HUP');
    ok(wait_until(sub { my $s = $t->status_json; $s && $s->{generation} > $gen0
                            && !grep { $_->{generation} == $gen0 } @{ $s->{workers} } }, 10),
       'reloaded with session_cache: 2m');
    like($t->error_log, qr/shared memory zone "tls-sessions\.127\.0\.0\.1_$port{cache}" resized to 2m: TLS sessions start over/,
         '... the cache zone is made afresh');
    is((connect_tls(port => $port{cache}, v => '1_2', in => $last{'cache 1_2'}))[0], 'New',
       '... a session of the old cache gets a full handshake');
    is((connect_tls(port => $port{tickets}, v => '1_2', in => $last{'tickets 1_2'}))[0], 'Reused',
       '... a ticket still resumes');
    $t->write_conf($conf);
}

# --- 5. the dump ------------------------------------------------------------------------------

{
    my $r = $t->run({}, '-p', $t->dir, '-c', $t->conf, '-T');
    is($r->{exit}, 0, 'gatewayd -T');
    like($r->{stdout}, qr/session_cache: 1m\n\s+session_tickets: off/, '... prints session_cache and session_tickets off');
    like($r->{stdout}, qr/session_cache: off\n\s+session_tickets:\n\s+rotate: 2s/, '... and a rotation');
    spew($t->path('dumped.conf'), $r->{stdout});
    my $check = $t->run({}, '-p', $t->dir, '-c', $t->path('dumped.conf'), '-t');
    is($check->{exit}, 0, '... which loads again') or diag($check->{out});
}

$t->stop;

# --- 6. ticket keys shared by two nodes through Redis -----------------------------------------
# Two gateways listen on one port (SO_REUSEPORT: the kernel shares the connections between
# them), as two nodes behind a balancer: a ticket node A issued resumes on node B.

SKIP: {
    skip 'redis-server is not installed', 8 unless RedisServer->available;
    my $redis = RedisServer->new->start;
    my $rport = $redis->port;
    my $shared = GatewayTest::free_port();
    my @nodes = map { GatewayTest->new } 1 .. 2;
    for my $n (@nodes) {
        spew($n->path($_), slurp($t->path($_))) for qw(a.pem a.key);
        $n->set_port('shared', $shared);
        $n->write_conf(<<"CONF");
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: debug}
redis: {address: 127.0.0.1:$rport, timeout: 500ms}
listeners:
  - address: 127.0.0.1:%%shared%%
    tls:
      certificates: [{cert: a.pem, key: a.key}]
      session_cache: off
      session_tickets: {rotate: 1h, shared: redis}
  - {address: 127.0.0.1:%%admin%%, admin: true}
routes:
  - name: reused
    match: {path_prefix: /}
    return: {status: 200, body: "reused=\$ssl_session_reused\\n"}
CONF
    }
    my ($na, $nb) = @nodes;
    $na->start;
    ok(wait_until(sub { $na->error_log =~ /session ticket keys shared through Redis/ }, 10),
       'node A put its ticket keys in Redis');
    $nb->start;
    ok(wait_until(sub { $nb->error_log =~ /session ticket keys adopted from Redis/ }, 10),
       'node B adopted them');

    # Which node served the last connection: the one whose error log grew with $re.
    my %offset = map { $_ => length $_->error_log } @nodes;
    my $served_by = sub {
        my ($re) = @_;
        my $who;
        for my $n (@nodes) {
            my $log = $n->error_log;
            $who = $n if substr($log, $offset{$n}) =~ $re;
            $offset{$n} = length $log;
        }
        return $who // '';
    };
    my $file = session_file();
    my $deadline = time + 15;
    my $made = '';
    while (time < $deadline && $made ne $na) {
        connect_tls(port => $shared, v => '1_3', out => $file);
        $made = $served_by->(qr/TLS session ticket issued/);
    }
    is($made, $na, 'a ticket issued by node A');
    my ($on_b, @kinds) = ('');
    while (time < $deadline && $on_b ne $nb) {
        my ($k) = connect_tls(port => $shared, v => '1_3', in => $file);
        $on_b = $served_by->(qr/TLS session ticket under the current key/);
        push @kinds, $k;
    }
    is($on_b, $nb, '... offered to node B');
    is($kinds[-1], 'Reused', '... resumes there');

    $redis->kill9;
    ok(wait_until(sub { !grep { $_->error_log !~ /Redis is away/ } @nodes }, 15), 'Redis stopped: both nodes say so');
    my @after = map { (connect_tls(port => $shared, v => '1_3', in => $file))[0] } 1 .. 4;
    is_deeply(\@after, [('Reused') x 4], '... and the ticket still resumes (the keys are kept)');
    my @fresh = map { (connect_tls(port => $shared, v => '1_3'))[0] } 1 .. 2;
    is_deeply(\@fresh, [('New') x 2], '... full handshakes succeed');
    $_->stop for @nodes;
    ok(1, 'the nodes stopped');
}

ok(time - $started < 60, sprintf('the whole test took %.1f s', time - $started));
done_testing();
