#!/usr/bin/perl
# Command line: -v -V -h, -t/-T/-q config tests with their messages and exit codes, -s without a
# running master, usage errors.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use POSIX ();
use GatewayTest;

my $t = GatewayTest->new;
my $dir = $t->dir;
my $conf = $t->conf;

# --- -v / -V / -h ---------------------------------------------------------------------------

{
    my $r = $t->run('-v');
    is($r->{exit}, 0, '-v exits 0');
    like($r->{out}, qr/^gatewayd version 0\.1\.0$/m, '-v prints the version');
    unlike($r->{out}, qr/configure arguments/i, '-v does not print configure arguments');

    $r = $t->run('-V');
    is($r->{exit}, 0, '-V exits 0');
    like($r->{out}, qr/^gatewayd version 0\.1\.0$/m, '-V prints the version');
    like($r->{out}, qr/configure arguments/i, '-V prints the configure arguments');
    like($r->{out}, qr/openssl\D{0,40}\d+\.\d+/i, '-V prints the OpenSSL version');
    like($r->{out}, qr/^built by (gcc|clang) \d+\.\d+/m, '-V names the compiler and its version');
    like($r->{out}, qr/(pcre2|yaml|hiredis)\D{0,40}\d+\.\d+/i, '-V prints other library versions');
    # Only libraries that a feature uses: no compression is built, so no zlib or Brotli.
    unlike($r->{out}, qr/zlib|brotli/i, '-V lists no library that no feature uses');

    $r = $t->run('-h');
    is($r->{exit}, 0, '-h exits 0');
    for my $o (qw(-c -p -t -T -q -s -F -v -V -h)) {
        like($r->{out}, qr/(^|\s|\[)\Q$o\E\b/m, "-h mentions $o");
    }
    like($r->{out}, qr/stop/, '-h lists the signals');
}

# --- -t with a good file ----------------------------------------------------------------------

my $good = <<'EOF';
# a good configuration
worker_processes: 2
pid: logs/gatewayd.pid
error_log: logs/error.log
listeners:
  - address: 127.0.0.1:%%http%%
  - address: 127.0.0.1:%%admin%%
    admin: true
routes:
  - name: hello
    match: {path: /hello}
    return: {status: 200, body: "hello\n"}
EOF

{
    $t->write_conf($good);
    my $r = $t->run('-t', '-p', $dir, '-c', $conf);
    is($r->{exit}, 0, '-t good config exits 0') or diag($r->{out});
    like($r->{stderr}, qr/^gatewayd: the configuration file \Q$conf\E syntax is ok$/m, '-t: syntax is ok');
    like($r->{stderr}, qr/^gatewayd: configuration file \Q$conf\E test is successful$/m,
         '-t: test is successful');
    ok(!-e "$dir/logs/gatewayd.pid", '-t does not write a pid file');

    # a relative -c is relative to the current directory; messages name the absolute path
    $r = $t->run({ chdir => $dir }, '-t', '-p', $dir, '-c', 'gateway.conf');
    is($r->{exit}, 0, '-t with a relative -c exits 0') or diag($r->{out});
    like($r->{stderr}, qr/^gatewayd: configuration file \Q$conf\E test is successful$/m,
         '-t with a relative -c names the absolute path');

    # -q: only errors
    $r = $t->run('-t', '-q', '-p', $dir, '-c', $conf);
    is($r->{exit}, 0, '-t -q good config exits 0');
    is($r->{stderr}, '', '-t -q prints nothing for a good config');
}

# --- -t with one unknown key on line 7 --------------------------------------------------------

{
    $t->write_conf(<<'EOF');
listeners:
  - address: 127.0.0.1:%%http%%
routes:
  - name: hello
    return: {status: 200}
error_log: logs/error.log
worker_procesess: 2
EOF
    my $r = $t->run('-t', '-p', $dir, '-c', $conf);
    is($r->{exit}, 1, '-t with an unknown key exits 1');
    like($r->{stderr}, qr/^gatewayd: \[emerg\] \Q$conf\E:7:1: .*worker_procesess/m,
         'the error names FILE:7:1 and the key');
    like($r->{stderr}, qr/^gatewayd: \[emerg\] \Q$conf\E:7:.*worker_processes/m,
         'the error suggests worker_processes (did you mean)');
    like($r->{stderr}, qr/^gatewayd: configuration file \Q$conf\E test failed$/m, 'test failed');
    unlike($r->{stderr}, qr/test is successful|syntax is ok/, 'no success message');
    my @emerg = $r->{stderr} =~ /^gatewayd: \[emerg\]/mg;
    is(scalar @emerg, 1, 'exactly one error reported') or diag($r->{stderr});

    # -q still prints errors
    $r = $t->run('-t', '-q', '-p', $dir, '-c', $conf);
    is($r->{exit}, 1, '-t -q bad config exits 1');
    like($r->{stderr}, qr/\Q$conf\E:7:1: /, '-t -q still prints the error');
}

# --- three errors in one file are all reported -------------------------------------------------

{
    $t->write_conf(<<'EOF');
# three independent errors: lines 2, 3 and 10
worker_processes: 0
shutdown_timeout: 5
listeners:
  - address: 127.0.0.1:%%http%%
routes:
  - name: ok
    return: {status: 200}
  - name: bad
    return: {status: 700}
EOF
    my $r = $t->run('-t', '-p', $dir, '-c', $conf);
    is($r->{exit}, 1, '-t with three errors exits 1');
    like($r->{stderr}, qr/^gatewayd: \[emerg\] \Q$conf\E:2:\d+: .*worker_processes/m, 'error 1 (line 2) reported');
    like($r->{stderr}, qr/^gatewayd: \[emerg\] \Q$conf\E:3:\d+: .*shutdown_timeout/m, 'error 2 (line 3) reported');
    like($r->{stderr}, qr/^gatewayd: \[emerg\] \Q$conf\E:10:\d+: /m, 'error 3 (line 10) reported');
    my @emerg = $r->{stderr} =~ /^gatewayd: \[emerg\]/mg;
    is(scalar @emerg, 3, 'exactly three errors reported') or diag($r->{stderr});
    like($r->{stderr}, qr/^gatewayd: configuration file \Q$conf\E test failed$/m, 'test failed');
}

# --- errors are printed in file order, whatever order they were found in -----------------------

{
    # Found as: line 7 (process keys), the include's line 2 (http), line 4 (routes, read last).
    $t->write_conf(<<'EOF');
include: order-extra.conf
routes:
  - name: r
    upstream: nope
listeners:
  - address: 127.0.0.1:%%http%%
worker_processes: 0
EOF
    my $extra = $t->write_conf(<<'EOF', 'order-extra.conf');
# an included file
http: {max_headers: 0}
EOF
    my $r = $t->run('-t', '-p', $dir, '-c', $conf);
    is($r->{exit}, 1, '-t with errors in two files exits 1');
    my @at = $r->{stderr} =~ /^gatewayd: \[emerg\] (\S+?:\d+):\d+: /mg;
    is_deeply(\@at, ["$conf:4", "$conf:7", "$extra:2"],
              'errors sorted: the main file by line, then the included file') or diag($r->{stderr});
}

# --- includes -----------------------------------------------------------------------------------

{
    $t->write_conf(<<'EOF');
include: conf.d/*.conf
listeners:
  - address: 127.0.0.1:%%http%%
routes:
  - name: main-route
    return: {status: 200}
EOF
    my $bad = $t->write_conf(<<'EOF', 'conf.d/bad.conf');
# an included file
shutdown_timeout: 5s
keepalive_timeot: 10s
EOF
    my $r = $t->run('-t', '-p', $dir, '-c', $conf);
    is($r->{exit}, 1, '-t with an error in an included file exits 1');
    like($r->{stderr}, qr/^gatewayd: \[emerg\] \Q$dir\E\/conf\.d\/bad\.conf:3:1: .*keepalive_timeot/m,
         'the error names the included file and line');
    like($r->{stderr}, qr/^gatewayd: configuration file \Q$conf\E test failed$/m, 'test failed');

    # fix it: routes from an included file are appended; -T shows the effective config
    $t->write_conf(<<'EOF', 'conf.d/bad.conf');
# an included file
shutdown_timeout: 5s
routes:
  - name: from-include
    match: {path_prefix: /inc}
    return: {status: 201}
EOF
    $r = $t->run('-T', '-p', $dir, '-c', $conf);
    is($r->{exit}, 0, '-T exits 0') or diag($r->{out});
    like($r->{stderr}, qr/^gatewayd: configuration file \Q$conf\E test is successful$/m,
         '-T: test is successful');
    my $out = $r->{stdout};
    like($out, qr/main-route/, '-T prints the main file route');
    like($out, qr/from-include/, '-T prints the included route');
    like($out, qr/main-route.*from-include/s, 'included routes are appended after the main ones');
    like($out, qr/127\.0\.0\.1:${\ $t->port('http')}/, '-T prints the listener');
    like($out, qr/keepalive_requests:\s*1000\b/, '-T prints defaults (keepalive_requests: 1000)');
    like($out, qr/max_headers:\s*100\b/, '-T prints defaults (max_headers: 100)');
    like($out, qr/worker_processes:\s*1\b/, '-T prints worker_processes');

    # a missing literal include is an error naming the including line
    $t->write_conf(<<'EOF');
listeners:
  - address: 127.0.0.1:%%http%%
include: no-such-file.conf
EOF
    $r = $t->run('-t', '-p', $dir, '-c', $conf);
    is($r->{exit}, 1, '-t with a missing include exits 1');
    like($r->{stderr}, qr/^gatewayd: \[emerg\] \Q$conf\E:3:\d+: .*no-such-file\.conf/m,
         'the missing include is named with its line');
    unlink "$dir/conf.d/bad.conf";
}

# --- worker_processes: auto, duplicate listeners --------------------------------------------------

{
    my $cpus = `getconf _NPROCESSORS_ONLN 2>/dev/null`;
    chomp $cpus;
    $t->write_conf(<<'EOF');
worker_processes: auto
listeners:
  - address: 127.0.0.1:%%http%%
routes:
  - name: hello
    return: {status: 200}
EOF
    my $r = $t->run('-T', '-p', $dir, '-c', $conf);
    is($r->{exit}, 0, '-T with worker_processes: auto exits 0') or diag($r->{out});
    SKIP: {
        skip 'getconf _NPROCESSORS_ONLN unavailable', 1 unless $cpus =~ /^\d+$/;
        like($r->{stdout}, qr/worker_processes:\s*(auto|$cpus)\b/, "worker_processes: auto is one per online CPU ($cpus)");
    }

    $t->write_conf(<<'EOF');
listeners:
  - address: 127.0.0.1:%%http%%
  - address: 127.0.0.1:%%admin%%
  - address: 127.0.0.1:%%http%%
routes:
  - name: hello
    return: {status: 200}
EOF
    $r = $t->run('-t', '-p', $dir, '-c', $conf);
    is($r->{exit}, 1, '-t with a duplicate listener address exits 1');
    like($r->{stderr}, qr/^gatewayd: \[emerg\] \Q$conf\E:4:\d+: .*127\.0\.0\.1:${\ $t->port('http')}/m,
         'the duplicate listener is reported on its line');
}

# --- -t fails when a listener address is held by another program ------------------------------

# A configuration with the test's own listener and one on $port, which another program holds.
sub write_two_listeners {
    my ($port) = @_;
    $t->write_conf(<<"EOF");
worker_processes: 1
listeners:
  - address: 127.0.0.1:%%http%%
  - address: 127.0.0.1:$port
routes:
  - name: hello
    return: {status: 200}
EOF
}

{
    my $holder = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                       Listen => 5, ReuseAddr => 0)
        or die "listen: $!";
    my $held = $holder->sockport;
    write_two_listeners($held);
    my $r = $t->run('-t', '-p', $dir, '-c', $conf);
    is($r->{exit}, 1, '-t with a listener port held by another program exits 1');
    like($r->{stderr},
         qr/^gatewayd: \[emerg\] \Q$conf\E:4:\d+: cannot bind listener 127\.0\.0\.1:$held: Address already in use$/m,
         'the bind error names the line and the address');
    like($r->{stderr}, qr/test failed/, 'test failed');
    close $holder;

    $r = $t->run('-t', '-p', $dir, '-c', $conf);
    is($r->{exit}, 0, '-t succeeds once the port is free') or diag($r->{out});
}

# --- -t: another program listening with SO_REUSEPORT (the bind alone would succeed) ---------------

{
    my $sharer = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                       Listen => 5, ReusePort => 1)
        or die "listen: $!";
    my $shared = $sharer->sockport;
    write_two_listeners($shared);
    my $r = $t->run('-t', '-p', $dir, '-c', $conf);
    is($r->{exit}, 1, '-t with a port another program listens on with SO_REUSEPORT exits 1');
    like($r->{stderr},
         qr/^gatewayd: \[emerg\] \Q$conf\E:4:\d+: listener 127\.0\.0\.1:$shared is already listened on by perl \(pid $$\) with SO_REUSEPORT/m,
         'it names the program and its pid') or diag($r->{stderr});
    close $sharer;
}

# --- -t reports bind problems even when the file has other errors ------------------------------

{
    my $holder = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                       Listen => 5, ReuseAddr => 0)
        or die "listen: $!";
    my $held = $holder->sockport;
    $t->write_conf(<<"EOF");
worker_processes: 1
listeners:
  - address: 127.0.0.1:%%http%%
  - address: 127.0.0.1:$held
routes:
  - name: hello
    return: {status: 200}
worker_procesess: 2
EOF
    my $r = $t->run('-t', '-p', $dir, '-c', $conf);
    is($r->{exit}, 1, '-t with a schema error and a held port exits 1');
    like($r->{stderr}, qr/^gatewayd: \[emerg\] \Q$conf\E:8:1: .*worker_procesess/m, 'the schema error is reported');
    like($r->{stderr}, qr/^gatewayd: \[emerg\] \Q$conf\E:4:\d+: cannot bind listener 127\.0\.0\.1:$held: /m,
         'the bind error is reported as well');
    my @emerg = $r->{stderr} =~ /^gatewayd: \[emerg\]/mg;
    is(scalar @emerg, 2, 'both errors, and only them') or diag($r->{stderr});
    close $holder;
}

# --- -s reload runs the whole -t check before it sends SIGHUP -----------------------------------

{
    $t->write_conf($good);
    $t->start;
    my $gen = sub { my $s = $t->status_json; $s ? $s->{generation} : 0 };
    is($gen->(), 1, 'running: generation 1');

    # The running master's own listeners count as bindable: a good file reloads.
    my $r = $t->run('-p', $dir, '-c', $conf, '-s', 'reload');
    is($r->{exit}, 0, '-s reload with a good file and the running listeners exits 0') or diag($r->{out});
    is($r->{stderr}, '', '-s reload that signals prints nothing');
    ok(wait_until(sub { $gen->() == 2 }, 5), 'the reload happened (generation 2)');

    # A schema error and a listener on a port another program holds: both listed, no signal.
    my $holder = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                       Listen => 5, ReuseAddr => 0)
        or die "listen: $!";
    my $held = $holder->sockport;
    (my $bad = $good) =~ s/^listeners:\n/listeners:\n  - address: 127.0.0.1:$held\n/m;
    $bad .= "bogus_key: 1\n";
    $t->write_conf($bad);
    my $before = $t->error_log;
    $r = $t->run('-p', $dir, '-c', $conf, '-s', 'reload');
    is($r->{exit}, 1, '-s reload with a bad file exits 1');
    like($r->{stderr}, qr/^gatewayd: \[emerg\] \Q$conf\E:\d+:\d+: .*bogus_key/m, 'it lists the schema error');
    like($r->{stderr}, qr/^gatewayd: \[emerg\] \Q$conf\E:\d+:\d+: cannot bind listener 127\.0\.0\.1:$held: /m,
         'it lists the bind error');
    like($r->{stderr}, qr/reload refused, SIGHUP not sent/, 'it says plainly that it did not signal');
    # A valid file whose only problem is the held port: refused as well (the master would fail).
    (my $held_only = $good) =~ s/^listeners:\n/listeners:\n  - address: 127.0.0.1:$held\n/m;
    $t->write_conf($held_only);
    $r = $t->run('-p', $dir, '-c', $conf, '-s', 'reload');
    is($r->{exit}, 1, '-s reload with only a held port exits 1');
    like($r->{stderr}, qr/cannot bind listener 127\.0\.0\.1:$held: .*\n.*reload refused, SIGHUP not sent/,
         'it lists the bind error and refuses');
    close $holder;
    # No SIGHUP reached the master: its log has no new "SIGHUP received" and no failed reload.
    my $after = substr($t->error_log, length $before);
    unlike($after, qr/SIGHUP|reload failed/, 'the master received no SIGHUP') or diag($after);
    is($gen->(), 2, 'still generation 2');
    $t->write_conf($good);
    $t->stop;
}

# --- -s without a running master ---------------------------------------------------------------

{
    $t->write_conf($good);
    my $pidfile = "$dir/logs/gatewayd.pid";
    unlink $pidfile;
    my $r = $t->run('-p', $dir, '-c', $conf, '-s', 'reload');
    is($r->{exit}, 1, '-s reload with no pid file exits 1');
    like($r->{stderr}, qr/^gatewayd: .*(not running|\Q$pidfile\E)/mi,
         '-s reload with no master says why') or diag($r->{out});

    # a stale pid file: a process that has exited
    my $pid = fork // die;
    POSIX::_exit(0) if $pid == 0;
    waitpid($pid, 0);
    GatewayTest::spew($pidfile, "$pid\n");
    $r = $t->run('-p', $dir, '-c', $conf, '-s', 'stop');
    is($r->{exit}, 1, '-s stop with a stale pid file exits 1');
    like($r->{stderr}, qr/^gatewayd: .*(not running|\b$pid\b)/mi, '-s stop with a stale pid says why')
        or diag($r->{out});
    unlink $pidfile;
}

# --- usage errors ----------------------------------------------------------------------------------

for my $args (['-Z'], ['-s', 'bogus'], ['-c'], ['-p'], ['extra-argument'], ['-s'], ['-w'], ['-s', 'reload', '-w']) {
    my $r = $t->run(@$args);
    is($r->{exit}, 2, "usage error (@$args) exits 2");
    isnt($r->{stderr}, '', "usage error (@$args) prints a message on stderr");
}

# a config file that does not exist is an error (1), not a usage error
{
    my $r = $t->run('-t', '-p', $dir, '-c', "$dir/does-not-exist.conf");
    is($r->{exit}, 1, '-t with a missing config file exits 1');
    like($r->{stderr}, qr/does-not-exist\.conf/, 'the missing file is named');
}

# the shipped configuration (what `make run` starts) is valid and pulls in conf.d/demo.conf
{
    my $root = "$FindBin::Bin/..";
    mkdir "$dir/logs";
    my $r = $t->run('-T', '-p', $dir, '-c', "$root/conf/gateway.conf");
    is($r->{exit}, 0, 'the shipped conf/gateway.conf passes -T') or diag($r->{stderr});
    like($r->{stdout}, qr/conf\.d\/demo\.conf/, 'the shipped config includes conf.d/demo.conf');
    for my $route (qw(welcome hello demo)) {
        like($r->{stdout}, qr/name: "?$route"?/, "the shipped config has the route $route");
    }
}

done_testing();
