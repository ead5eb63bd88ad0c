#!/usr/bin/perl
# The admin status page: GET / (one self-contained HTML page, server-rendered, refreshed by its
# own script from GET /status/live) against a gateway with traffic, an upstream server that
# health checks took down, a breaker held open, a rate-limit policy with rejections, and a TLS
# certificate whose name is markup (route names cannot hold HTML special characters - the
# configuration refuses them - but a certificate's name, a label value, can).
#   1. The page over plain HTTP (JavaScript off): its headers (CSP with the script's and the
#      style's sha256 and nothing external, nosniff, no-store), its sections and figures, the
#      hostile name as text; HEAD; tidy finds no errors.
#   2. /status/live: valid JSON with the /status members, listeners, routes and the metrics.
#   3. Headless Chromium (Debian's) loads the page: the rendered DOM shows the server down, the
#      breaker open, route rows with numbers, the rejections, the hostile name as text (no
#      injected element), and what the script filled in from /status/live (the live state, the
#      req/s cells, sparklines); the screenshot is kept in t/artifacts/status-page.png.
#   4. admin_auth applies to / and /status/live.
# The browser parts are skipped when /usr/bin/chromium is missing. About 5 s.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Digest::SHA qw(sha256_base64);
use File::Path qw(make_path);
use POSIX ();
use GatewayTest;
use Backend;
use TestCerts;
require_modules('health', 'breaker', 'ratelimit', 'tls', 'admin_auth');
plan skip_all => 'the openssl command is not installed' unless TestCerts::available();

my $chromium = '/usr/bin/chromium';
my $have_chromium = -x $chromium;
my $hostile = '<script>alert(1)</script>';

my $a = Backend->new(name => 'a')->start;
my $b = Backend->new(name => 'b')->start;
my $dead = Backend::dead_port();
my $t = GatewayTest->new;
$t->set_port('be_a', $a->port);
$t->set_port('be_b', $b->port);
$t->set_port('dead', $dead);
my $certs = TestCerts->new($t->dir);
$certs->openssl("req -x509 $TestCerts::EC -keyout evil.key -out evil.pem -days 30 -subj /CN=evil "
                . "-addext 'subjectAltName=DNS:$hostile'");

my $token = join '', map { ('a' .. 'z', 'A' .. 'Z', 0 .. 9)[rand 62] } 1 .. 40;
spew($t->path('admin.token'), "$token\n");

sub config {
    my ($extra) = @_;
    return <<'EOF' . ($extra // '');
worker_processes: 2
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
  - address: 127.0.0.1:%%https%%
    http2: true
    tls: {certificates: [{cert: evil.pem, key: evil.key}]}
upstreams:
  app:
    servers: [{address: 127.0.0.1:%%be_a%%}, {address: 127.0.0.1:%%dead%%}]
    health_check: {path: /hc, interval: 200ms, timeout: 150ms, fall: 1, rise: 2}
    max_fails: 0
  brk:
    servers: [{address: 127.0.0.1:%%be_b%%}]
    circuit_breaker: {consecutive_failures: 3, open_for: 5m}
rate_limit_zone_size: 1m
rate_limits:
  tight: {key: ip, rate: 5/d, algorithm: fixed_window}
routes:
  - {name: app, match: {path_prefix: /app/}, upstream: app, strip_prefix: /app}
  - {name: brk, match: {path_prefix: /brk/}, upstream: brk, strip_prefix: /brk}
  - {name: limited, match: {path: /limited}, return: {body: "ok\n"}, rate_limit: tight}
  - {name: idle.route-1, match: {path: /idle}, return: {status: 204}}
EOF
}

$t->write_conf(config());
$t->start;
my $admin = $t->port('admin');
my $A = '127.0.0.1:' . $a->port;
my $D = "127.0.0.1:$dead";
my $B = '127.0.0.1:' . $b->port;

sub server_field {
    my ($upstream, $addr, $field) = @_;
    my $s = $t->status_json or return '';
    my ($u) = grep { $_->{name} eq $upstream } @{ $s->{upstreams} // [] } or return '';
    my ($sv) = grep { $_->{address} eq $addr } @{ $u->{servers} // [] };
    return $sv ? $sv->{$field} // '' : '';
}

# --- traffic and states ------------------------------------------------------------------------
ok(wait_until(sub { server_field('app', $D, 'health') eq 'down' }, 5), 'the dead server is marked down by health checks');
my %got;
for (1 .. 30) { my $r = $t->get('/app/id'); $got{ $r ? $r->{status} : 'none' }++ }
is($got{200}, 30, '30 requests through route app, all 200');
$t->get('/app/fail-on/a/404') for 1 .. 2;
my $n = 0;
$t->get('/brk/fail-on/b/503'), $n++ until server_field('brk', $B, 'circuit') eq 'open' || $n >= 20;
is(server_field('brk', $B, 'circuit'), 'open', "brk's breaker is open (after $n failures)");
my %rl;
for (1 .. 8) { my $r = $t->get('/limited'); $rl{ $r ? $r->{status} : 'none' }++ }
is_deeply(\%rl, { 200 => 5, 429 => 3 }, 'rate limit tight: 5 allowed, 3 rejected');
is($t->get('/nowhere')->{status}, 404, 'a request no route matches: 404');
# One request over TLS (to no route, so that the counts above stay as they are).
my $tls_ok = system("curl -sk -o /dev/null https://127.0.0.1:" . $t->port('https') . "/nowhere") == 0;


# --- 1. the page without JavaScript -------------------------------------------------------------
my $page;
{
    my $r = http_get($admin, '/');
    is($r && $r->{status}, 200, 'GET / on the admin listener: 200');
    $page = $r ? $r->{body} : '';
    my $h = $r ? $r->{headers} : {};
    is($h->{'content-type'}, 'text/html; charset=utf-8', 'text/html');
    is($h->{'cache-control'}, 'no-store', 'cache-control: no-store');
    is($h->{'x-content-type-options'}, 'nosniff', 'x-content-type-options: nosniff');
    my $csp = $h->{'content-security-policy'} // '';
    like($csp, qr/^default-src 'none';/, "CSP: default-src 'none'");
    like($csp, qr/connect-src 'self'/, "CSP: connect-src 'self' (for /status/live)");
    unlike($csp, qr/unsafe|https?:|\*/, 'CSP: no unsafe-*, no external source, no wildcard');
    my ($script) = $page =~ m{<script>(.*?)</script>}s;
    my ($style) = $page =~ m{<style>(.*?)</style>}s;
    ok(defined $script && index($csp, "script-src 'sha256-" . sha256_base64($script) . "='") >= 0,
       'CSP: script-src is the sha256 of the inline script');
    ok(defined $style && index($csp, "style-src 'sha256-" . sha256_base64($style) . "='") >= 0,
       'CSP: style-src is the sha256 of the inline style');
    is(scalar(() = $page =~ /<script\b/g), 1, 'one script element: the page\'s own');
    (my $urls = $page) =~ s{'http://www\.w3\.org/2000/svg'}{}g;  # the SVG namespace, a name only
    unlike($urls, qr/<(?:script|link|img|iframe)[^>]*\bsrc=|<link\b|\bstyle="|https?:\/\//,
           'nothing external: no src, no link, no style attribute, no URL');
    for my $id (qw(workers listeners routes upstreams ratelimits tls)) {
        like($page, qr/<section id="$id">/, "snapshot has the $id section");
    }
    like($page, qr{&lt;script&gt;alert\(1\)&lt;/script&gt;}, 'the hostile certificate name is escaped text');
    unlike($page, qr{\Q$hostile\E}, '... and never markup');
    like($page, qr{<tr data-k="app \Q$D\E">.*?<span class="badge b-down">down</span>}, 'snapshot: the dead server is down');
    like($page, qr{<tr data-k="brk \Q$B\E">.*?<span class="badge b-open">open</span>}, 'snapshot: the breaker is open');
    like($page, qr{<tr data-k="app">.*?data-f="requests">32</td>}, 'snapshot: route app counted 32 requests');
    like($page, qr{<tr data-k="app">.*?data-f="e4">6\.25 %</td>}, 'snapshot: route app 4xx ratio 2/32');
    like($page, qr{<tr data-k="brk">.*?data-f="e5">100\.00 %</td>}, 'snapshot: route brk 5xx ratio 100 %');
    like($page, qr{<tr data-k="app">.*?data-f="p99">[\d.]+ (?:µs|ms|s)</td>}, 'snapshot: route app has a p99');
    like($page, qr{<tr data-k="tight">.*?data-f="allowed">5</td>.*?data-f="rejected">3</td>}, 'snapshot: 5 allowed, 3 rejected');
    like($page, qr{<tr data-k="idle.route-1">.*?data-f="requests">0</td>}, 'snapshot: an idle route shows 0');
    like($page, qr{<tr data-k=""><td class="name"><em>no route</em></td><td>404</td><td class="n" data-f="requests">\Q@{[$tls_ok ? 2 : 1]}\E</td>},
         'snapshot: the request no route matched has a row');
    like($page, qr{<td>127\.0\.0\.1:\d+</td><td><span class="badge b-yes">yes</span></td><td>on</td>},
         'snapshot: the TLS listener with http2');
    SKIP: {
        skip 'curl is not installed (no TLS request made)', 1 unless $tls_ok;
        like($page, qr{<section id="tls">.*?data-f="ok">1</td><td class="n" data-f="failed">0</td>}s,
             'snapshot: the TLS handshake counted');
    }

    my $head = http_get($admin, '/', {}, method => 'HEAD');
    is($head && $head->{status}, 200, 'HEAD /: 200');
    is($head && length($head->{body} // ''), 0, 'HEAD /: no body');

    SKIP: {
        skip 'tidy is not installed', 1 unless system('tidy -v >/dev/null 2>&1') == 0;
        my $file = $t->path('page.html');
        spew($file, $page);
        my $out = `tidy -errors -quiet $file 2>&1`;
        my $rc = $? >> 8;
        ok($rc < 2 && $out !~ /Error:/, 'tidy -errors: no errors') or diag($out);
    }

    $r = http_get($admin, '/nope');
    is($r && $r->{status}, 404, 'an unknown admin path is still 404');
    like($r && $r->{body}, qr{/status/live}, '... and the 404 names the new endpoints');
}

# --- 2. /status/live ------------------------------------------------------------------------------
{
    my $r = http_get($admin, '/status/live');
    is($r && $r->{status}, 200, '/status/live: 200');
    like($r && $r->{headers}{'content-type'}, qr{^application/json}, '... JSON');
    is($r && $r->{headers}{'x-content-type-options'}, 'nosniff', '... nosniff');
    my $j = parse_json($r && $r->{body});
    ok($j && ref $j eq 'HASH', '... valid JSON') or diag($r && $r->{body});
    $j ||= {};
    is($j->{generation}, 1, 'generation');
    is(scalar @{ $j->{workers} // [] }, 2, 'the workers');
    is(scalar @{ $j->{listeners} // [] }, 3, 'the listeners');
    is_deeply([map { $_->{name} } @{ $j->{routes} // [] }], [qw(app brk limited idle.route-1)], 'the routes');
    my %fam = map { $_->{name} => $_ } @{ $j->{metrics} // [] };
    ok($fam{gateway_http_requests_total}, 'the metric families');
    is($fam{gateway_http_request_duration_seconds}{type}, 'histogram', 'histograms');
    my ($s) = @{ $fam{gateway_http_request_duration_seconds}{series} // [] };
    ok($s && @{ $s->{buckets} } == @{ $s->{le} } + 1 && $s->{count} == $s->{buckets}[-1],
       'a histogram: le, cumulative buckets with +Inf last, count');
    my ($cert) = @{ $fam{gateway_tls_certificate_expiry_timestamp_seconds}{series} // [] };
    is($cert && $cert->{labels}{name}, $hostile, 'label values come back as they were (JSON-escaped)');
}

# --- 3. headless Chromium ------------------------------------------------------------------------
sub chromium {
    my (@args) = @_;
    my $profile = $t->path('chromium-' . int(rand 1e9));
    make_path($profile);
    my $cmd = join ' ', 'timeout -k 5 60', $chromium, '--headless', '--no-sandbox', '--disable-gpu',
              '--no-first-run', '--disable-extensions', '--enable-logging=stderr', "--user-data-dir=$profile", @args,
              "http://127.0.0.1:$admin/", '2>' . $t->path('chromium.err');
    my $out = `$cmd`;
    return ($? >> 8, $out);
}

# Requests to route app while the browser runs, so that its rates, percentiles and sparklines
# have something to show. A child of this test, ended by its pid; it leaves with _exit (no END
# blocks: the gateway is this process's to stop).
sub with_traffic {
    my ($code) = @_;
    my $port = $t->port('http');
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        my $end = time + 60;
        my $i = 0;
        while (time < $end) {
            http_get($port, ++$i % 10 ? '/app/id' : '/app/fail-on/a/404');
            sleep 0.002;
        }
        POSIX::_exit(0);
    }
    my @r = $code->();
    kill 'TERM', $pid;
    waitpid $pid, 0;
    return @r;
}

SKIP: {
    skip "$chromium is missing (Debian's chromium package: auto/install-deps test)", 17 unless $have_chromium;

    # The script's first refresh is at once, then every 2 s: 5 s of virtual time is three.
    my ($rc, $dom) = with_traffic(sub { chromium('--virtual-time-budget=5000', '--dump-dom') });
    is($rc, 0, 'chromium --dump-dom ran') or diag(slurp($t->path('chromium.err')));
    $dom //= '';
    like($dom, qr{<span id="live-state" class="live">live · updated \d\d:\d\d:\d\d UTC</span>},
         'the script refreshed the page from /status/live');
    like($dom, qr{<tr data-k="app \Q$D\E">.*?<span class="badge b-down">down</span>}s, 'DOM: the dead server shown down');
    like($dom, qr{<tr data-k="brk \Q$B\E">.*?<span class="badge b-open">open</span>}s, 'DOM: the breaker shown open');
    like($dom, qr{<tr data-k="app">.*?data-f="requests">(\d+)</td>}s, 'DOM: route app has a request count');
    my ($count) = $dom =~ m{<tr data-k="app">.*?data-f="requests">(\d+)</td>}s;
    ok(($count // 0) >= 32, "DOM: ... of at least 32 (" . ($count // 'none') . ')');
    like($dom, qr{<tr data-k="app">.*?data-f="rps">\d+\.\d+</td>}s, 'DOM: req/s filled in by the script (a number, not the snapshot\'s dash)');
    like($dom, qr{<tr data-k="app">.*?data-f="spark"><svg [^>]*>.*?<polyline points="[\d., ]+"}s,
         'DOM: a sparkline drawn in the route row');
    like($dom, qr{<tr data-k="tight">.*?data-f="rejected">3</td>}s, 'DOM: 3 rejections counted');
    like($dom, qr{&lt;script&gt;alert\(1\)&lt;/script&gt;}, 'DOM: the hostile name is text');
    is(scalar(() = $dom =~ /<script\b/g), 1, 'DOM: no injected script element');
    my @snapshot = $page =~ /<section id="(\w+)">/g;
    my @live = $dom =~ /<section id="(\w+)">/g;
    is_deeply(\@live, \@snapshot, 'the same sections with and without JavaScript (' . join(',', @snapshot) . ')');
    my $err = slurp($t->path('chromium.err')) // '';
    unlike($err, qr/Content.Security.Policy|Refused to/i, 'no CSP violation reported');
    unlike($err, qr/Uncaught|TypeError|ReferenceError|SyntaxError/, 'no script error on the console')
        or diag(join "\n", grep { /CONSOLE|Uncaught/ } split /\n/, $err);

    my $dir = "$FindBin::Bin/artifacts";
    make_path($dir);
    my $png = "$dir/status-page.png";
    unlink $png;
    ($rc) = with_traffic(sub {
        chromium('--virtual-time-budget=9000', '--hide-scrollbars', "--screenshot=$png", '--window-size=1280,2000')
    });
    is($rc, 0, 'chromium --screenshot ran');
    ok(-s $png && -s $png > 10_000, 'the screenshot is kept: ' . $png . ' (' . (-s $png // 0) . ' bytes)');
    open(my $fh, '<:raw', $png);
    my $sig = '';
    read($fh, $sig, 8) if $fh;
    is($sig, "\x89PNG\r\n\x1a\n", '... a PNG');
}

# --- 4. admin_auth applies to the page and its JSON ------------------------------------------------
subtest 'admin_auth guards / and /status/live' => sub {
    $t->write_conf(config("admin_auth: {token_file: admin.token}\n"));
    my @old = map { $_->{pid} } $t->workers;
    $t->signal('HUP');
    # (Until the old generation's workers have stopped accepting, one of them may still answer.)
    ok(wait_until(sub { !grep { GatewayTest::proc_alive($_) } @old }, 15), 'after HUP the old workers are gone');
    my $r0 = http_get($admin, '/');
    is($r0 && $r0->{status}, 401, 'after HUP: / without a token: 401');
    my $r = http_get($admin, '/status/live');
    is($r && $r->{status}, 401, '/status/live without a token: 401');
    $r = http_get($admin, '/', { Authorization => 'Bearer wrong-token-wrong-token-wrong-token' });
    is($r && $r->{status}, 401, '/ with a wrong token: 401');
    $r = http_get($admin, '/', { Authorization => "Bearer $token" });
    is($r && $r->{status}, 200, '/ with the token: 200');
    like($r && $r->{body}, qr{<section id="routes">}, '... the page');
    $r = http_get($admin, '/status/live', { Authorization => "Bearer $token" });
    is($r && $r->{status}, 200, '/status/live with the token: 200');
    is(parse_json($r && $r->{body})->{generation}, 2, '... generation 2');
};

$t->stop;
done_testing;
