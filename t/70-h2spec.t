#!/usr/bin/perl
# HTTP/2 conformance (issue 17): h2spec (github.com/summerwind/h2spec, MIT; the pinned commit of
# auto/build-h2spec, 146 tests in its default run) against gatewayd over h2c (a listener with
# `http2: prior_knowledge`) and over TLS (`http2: true`, ALPN h2). Each run passes only if every
# test passes: none failed, none skipped. The passed/skipped/failed counts and the ids of the
# tests that did not pass (h2spec's own: http2/6.9.1/3 is section 6.9.1, test 3) are printed.
#
# Optional in `make test`: skipped unless objs/h2spec exists (or H2SPEC names a binary). Debian
# has no h2spec package; build it from its source with Debian's Go packages alone:
#
#     H2SPEC_SRC=/path/to/h2spec-source auto/build-h2spec      # -> objs/h2spec
#
# (see the header of auto/build-h2spec for the source and the packages it installs).
#
# `/` answers 200 with a body of more than 5 bytes: h2spec skips a test (6.9.2/2) when the
# response to its request is shorter. h2spec runs with -o 2 (its timeout for an expected frame,
# in seconds): a test the server fails by not answering costs 2 s. The JUnit reports
# (report-h2c.xml, report-tls.xml) stay in the test's directory with GATEWAYD_KEEP=1.

use strict;
use warnings;
no warnings 'exec';    # exec, then _exit if it failed
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use GatewayTest;

my $root = "$FindBin::Bin/..";
my $h2spec = $ENV{H2SPEC} // "$root/objs/h2spec";
plan skip_all => "$h2spec does not exist (optional: build it with H2SPEC_SRC=/path/to/h2spec-source "
               . 'auto/build-h2spec; see that script)' unless -x $h2spec;

my $t = GatewayTest->new;
my $dir = $t->dir;
my $tls = has_modules('tls') && system('openssl version >/dev/null 2>&1') == 0;
if ($tls) {
    system("cd '$dir' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key "
         . "-out srv.pem -days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
         . '>/dev/null 2>&1') == 0 or BAIL_OUT('openssl req failed');
}
my $tls_listener = $tls ? <<'CONF' : '';
  - address: 127.0.0.1:%%h2%%
    http2: true
    tls:
      certificates:
        - {cert: srv.pem, key: srv.key}
CONF
$t->write_conf(<<"CONF");
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: notice}
listeners:
  - address: 127.0.0.1:%%h2c%%
    http2: prior_knowledge
$tls_listener  - {address: 127.0.0.1:%%admin%%, admin: true}
routes:
  - name: hello
    match: {path_prefix: /}
    return: {status: 200, body: "hello from gatewayd over HTTP/2\\n"}
CONF
$t->start;

# Runs h2spec (at most $limit seconds); returns (wait status, its output).
sub run_h2spec {
    my ($limit, @args) = @_;
    my $out = "$dir/h2spec.out";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        exec { $h2spec } $h2spec, @args;
        POSIX::_exit(127);
    }
    my $until = time + $limit;
    my $st;
    while (1) {
        my $w = waitpid($pid, POSIX::WNOHANG());
        if ($w == $pid) { $st = $?; last }
        if (time > $until) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            $st = -1;
            last;
        }
        sleep 0.1;
    }
    return ($st, slurp($out) // '');
}

# The JUnit report: one entry per test, in h2spec's order: {id, desc, result (passed, skipped,
# failed), detail}. A test's id is its group's (the suite's package) and its place in the group.
sub parse_report {
    my $xml = shift;
    my @tests;
    while ($xml =~ m{<testsuite\b([^>]*)>(.*?)</testsuite>}sg) {
        my ($attrs, $body) = ($1, $2);
        my ($package) = $attrs =~ /\bpackage="([^"]*)"/;
        my $i = 0;
        while ($body =~ m{<testcase\b([^>]*?)(?:/>|>(.*?)</testcase>)}sg) {
            my ($ta, $tb) = ($1, $2 // '');
            $i++;
            my ($desc) = $ta =~ /\bclassname="([^"]*)"/;
            my %r = (id => "$package/$i", desc => $desc // '', result => 'passed');
            if ($tb =~ m{<(failure|error)\b[^>]*>(.*?)</\1>}s || $tb =~ m{<(failure|error)\b[^>]*/>}s) {
                $r{result} = 'failed';
                $r{detail} = $2 // '';
            } elsif ($tb =~ /<skipped\b/) {
                $r{result} = 'skipped';
            }
            for (@r{qw(desc detail)}) {
                next unless defined;
                s/&#x([0-9a-fA-F]+);/chr(hex $1)/ge; s/&#(\d+);/chr($1)/ge;
                s/&lt;/</g; s/&gt;/>/g; s/&quot;/"/g; s/&apos;/'/g; s/&amp;/&/g;
            }
            push @tests, \%r;
        }
    }
    return @tests;
}

my @runs = (['h2c', [-p => $t->port('h2c')]]);
push @runs, ['tls', [-p => $t->port('h2'), '-t', '-k']] if $tls;
for my $run (@runs) {
    my ($name, $args) = @$run;
    my $report = "$dir/report-$name.xml";
    my $t0 = time;
    my ($st, $out) = run_h2spec(600, '-h', '127.0.0.1', @$args, '-o', '2', '-j', $report);
    my $took = time - $t0;
    my ($summary) = $out =~ /^(\d+ tests, \d+ passed, \d+ skipped, \d+ failed)/m;
    my @tests = -s $report ? parse_report(slurp($report)) : ();
    my %n = (passed => 0, skipped => 0, failed => 0);
    $n{$_->{result}}++ for @tests;
    my @bad = grep { $_->{result} ne 'passed' } @tests;
    diag(sprintf '%s: %d tests, %d passed, %d skipped, %d failed (h2spec: %s; %.1f s)', $name, scalar @tests,
         @n{qw(passed skipped failed)}, $summary // 'no summary', $took);
    diag("$name: not passed: " . join(' ', map { $_->{id} . ($_->{result} eq 'skipped' ? ' (skipped)' : '') } @bad))
        if @bad;
    # h2spec's failure text: the frames or events it expected, one a line, then what it got.
    for my $b (grep { $_->{result} eq 'failed' } @bad) {
        my @l = grep { /\S/ } map { s/^\s+|\s+$//gr } split /\n/, $b->{detail} // '';
        s/^(?:Expect(?:ed)?|Actual):\s*// for @l;
        @l = grep { /\S/ } @l;
        my $got = pop(@l) // '?';
        diag("  $b->{id} $b->{desc}: expected " . (join(' or ', @l) || '?') . "; got $got");
    }
    ok($st != -1, "$name: h2spec finished within 600 s") or next;
    ok(@tests > 0, "$name: h2spec wrote a JUnit report with its tests")
        or diag("h2spec exited with status " . ($st >> 8) . "; its output:\n$out");
    is(scalar @tests, ($summary // '') =~ /^(\d+)/ ? $1 : scalar @tests, "$name: the report has every test h2spec counted");
    ok(@tests && !@bad, "$name: every h2spec test passes");
}

ok($t->alive, 'gatewayd is still running');
my $r = http_get($t->port('admin'), '/health/ready', {}, timeout => 2);
is($r && $r->{status}, 200, 'and its worker still answers');
unlike($t->error_log, qr/\[(?:alert|emerg)\]/, 'no alert or emerg in the error log');
$t->stop;
done_testing;
