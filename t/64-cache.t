#!/usr/bin/perl
# The response cache (issue 16, the cache module), end to end with the real binary and real
# backends (Backend.pm with a handler of this test's own, which logs every request it gets with
# the fields a cache sends: If-None-Match, If-Modified-Since, Authorization, Accept-Language):
#   1. freshness (RFC 9111): max-age, s-maxage over max-age, Expires - Date, no-store, private,
#      no-cache (revalidated every time), must-revalidate (never stale), Set-Cookie, Vary: *,
#      Authorization, default_ttl, statuses, Age, X-Cache-Status and status_header (a name, off);
#   2. Vary: two variants of one key;
#   3. revalidation with ETag (304 upstream -> REVALIDATED), 304 from the cache, the client's
#      conditional fields not forwarded;
#   4. stale-while-revalidate: UPDATING at once, one background request, then the new body;
#   5. stale-if-error: backend 500, down or too slow (504) -> STALE; past the window -> the error;
#   6. purge by key and prefix on the admin listener; zone counts; unknown zone;
#   7. coalescing: 1,000 concurrent requests for one cold key across 2 workers -> 1 upstream
#      request, the waiters answered within milliseconds of the fill (the spread is printed);
#      a failed fill (500, closed mid-body) wakes them; clients that leave (waiters, the
#      filler's); lock_timeout;
#   8. HEAD; stored heads (no hop-by-hop fields) and keys of headers and cookies; max_object;
#      eviction in a small zone; compressed hits;
#   9. survives a reload and a binary upgrade; the metrics;
#  10. `gatewayd -t` errors at FILE:LINE:COL.
# CACHE_TEST_ONLY=REGEX runs only the subtests whose name matches.
#
# Time: objects with max-age=1 must go stale, and freshness is counted in whole seconds (the
# gateway's clock): such a test waits, with a deadline, until the wall clock has passed the next
# second boundary after the object's lifetime (wait_past), never a fixed sleep.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Digest::MD5 qw(md5_hex);
use Errno qw(EINPROGRESS EAGAIN EWOULDBLOCK);
use Fcntl qw(O_WRONLY O_APPEND O_CREAT O_RDWR :flock);
use IO::Poll qw(POLLIN POLLOUT POLLERR POLLHUP);
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use POSIX qw(strftime);
use Socket qw(PF_INET SOCK_STREAM IPPROTO_TCP TCP_NODELAY pack_sockaddr_in inet_aton);
use Test::More;
use Time::HiRes qw(time sleep);
use GatewayTest;
use Backend;

require_modules('cache');

my $T0 = time;
my $t = GatewayTest->new;
my $tmp = $t->dir;
my $LOG = "$tmp/backend.log";    # one line per request the backends get

# ---------------------------------------------------------------------------------------------
# the backends' handler: any path; the query says how to answer (values %-encoded):
#   cc, cc2        Cache-Control (cc2: for the 2nd and later request of this path; from2=K: the
#                  Kth and later)
#   status, status2
#   etag           ETag (quoted by the test); a request whose If-None-Match has it gets 304
#                  (with cc2 // cc)
#   lm=1           Last-Modified: a fixed date (without etag: If-Modified-Since that date gets 304)
#   age=N          Age: N
#   exp=S, date=S  Expires: now+S; Date: now+S (default: now)
#   cookie=1       Set-Cookie; vary=NAME: Vary: NAME; len=N: the body padded to N bytes
#   chunked=1      the body chunked (64 KiB pieces) instead of Content-Length
#   delay=MS, delay1=MS, delay2=MS   before the head (all; the 1st only; 2nd and later)
#   fail1=500|closemid  the 1st request of the path: 500, or a head and half the body, then close
# The body: "path=PATH n=N al=ACCEPT-LANGUAGE\n" (N: this request's number for the path),
# padded with pattern() to len.

sub unescape { my $v = shift; $v =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge; $v }
sub enc { my $v = shift; $v =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge; $v }
sub qs { my %o = @_; join '&', map { "$_=" . enc($o{$_}) } sort keys %o }
sub http_date { strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime($_[0])) }

# Appends the request's line to the log under a lock; its number for the path (1, 2, ...).
sub log_request {
    my ($be, $req) = @_;
    sysopen(my $fh, $LOG, O_RDWR | O_APPEND | O_CREAT) or die "open $LOG: $!";
    flock($fh, LOCK_EX);
    seek($fh, 0, 0);
    my $n = 1;
    while (my $l = <$fh>) { my @f = split /\t/, $l; $n++ if $f[2] eq $req->{path} }
    my $h = sub { Backend::Conn::hdr($req, $_[0]) // '-' };
    my $line = join("\t", sprintf('%.6f', time), $be, $req->{path}, $req->{method}, $h->('if-none-match'),
                    $h->('if-modified-since'), $h->('authorization'), $h->('accept-language'), $n, $h->('host')) . "\n";
    syswrite($fh, $line);
    flock($fh, LOCK_UN);
    close $fh;
    return $n;
}

sub handler {
    my ($be) = @_;
    return sub {
        my ($c, $req) = @_;
        return undef if $req->{path} eq '/hop';    # Backend.pm's own answer (hop-by-hop fields)
        my %q = map { my ($k, $v) = split /=/, $_, 2; ($k => unescape($v // '')) } split /&/, $req->{query};
        $c->read_body($req);
        my $n = log_request($be, $req);
        my $delay = $q{delay} // ($n == 1 ? $q{delay1} : $q{delay2}) // 0;
        sleep $delay / 1000 if $delay;
        my $cc = $n >= ($q{from2} // 2) && defined $q{cc2} ? $q{cc2} : $q{cc};
        my $status = $n >= 2 && defined $q{status2} ? $q{status2} : $q{status} // 200;
        $status = 500 if $n == 1 && ($q{fail1} // '') eq '500';
        my $al = Backend::Conn::hdr($req, 'accept-language') // '';
        my $body = "path=$req->{path} n=$n al=$al\n";
        $body .= pattern($q{len} - length $body) if $q{len} && $q{len} > length $body;
        my $now = time;
        my @h = (['Content-Type', 'text/plain'], ['Date', http_date($now + ($q{date} // 0))]);
        push @h, ['Cache-Control', $cc] if defined $cc;
        push @h, ['Expires', http_date($now + $q{exp})] if defined $q{exp};
        push @h, ['Last-Modified', 'Tue, 01 Dec 2026 10:00:00 GMT'] if $q{lm};
        push @h, ['Set-Cookie', 'session=abc'] if $q{cookie};
        push @h, ['Vary', $q{vary}] if $q{vary};
        push @h, ['Age', $q{age}] if defined $q{age};
        if ($q{lm} && !defined $q{etag}
            && (Backend::Conn::hdr($req, 'if-modified-since') // '') eq 'Tue, 01 Dec 2026 10:00:00 GMT') {
            return $c->respond($req, 304, '', @h);
        }
        if (defined $q{etag}) {
            push @h, ['ETag', $q{etag}];
            my $inm = Backend::Conn::hdr($req, 'if-none-match') // '';
            return $c->respond($req, 304, '', @h) if index($inm, $q{etag}) >= 0;
        }
        if ($n == 1 && ($q{fail1} // '') eq 'closemid') {
            my $s = "HTTP/1.1 200 OK\r\nContent-Length: " . length($body) . "\r\n";
            $s .= "$_->[0]: $_->[1]\r\n" for @h;
            $c->write_all("$s\r\n" . substr($body, 0, length($body) / 2));
            return 0;
        }
        if ($q{chunked}) {
            my $s = "HTTP/1.1 $status X\r\nTransfer-Encoding: chunked\r\n";
            $s .= "$_->[0]: $_->[1]\r\n" for @h;
            $c->write_all("$s\r\n");
            for (my $off = 0; $off < length $body; $off += 65536) {
                my $piece = substr($body, $off, 65536);
                $c->write_all(sprintf("%x\r\n", length $piece) . $piece . "\r\n");
            }
            $c->write_all("0\r\n\r\n");
            return 1;
        }
        return $c->respond($req, $status, $body, @h);
    };
}

my $be = Backend->new(name => 'be', handler => handler('be'))->start;
my $be2 = Backend->new(name => 'be2', handler => handler('be2'))->start;
$t->set_port('be', $be->port);
$t->set_port('be2', $be2->port);

# Backend log lines for a path: [{time, be, path, method, inm, ims, auth, al, n, host}, ...]
sub seen {
    my ($path) = @_;
    my @r;
    open my $fh, '<', $LOG or return ();
    while (my $l = <$fh>) {
        chomp $l;
        my %e;
        @e{qw(time be path method inm ims auth al n host)} = split /\t/, $l;
        push @r, \%e if !defined $path || $e{path} eq $path;
    }
    return @r;
}
sub upstream_count { scalar(my @x = seen($_[0])) }

my $CONF = <<'CONF';
worker_processes: 2
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
shutdown_timeout: 5s
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
upstreams:
  be: {servers: [{address: 127.0.0.1:%%be%%}]}
  be2: {servers: [{address: 127.0.0.1:%%be2%%}]}
cache:
  zones:
    main: {size: 64m, max_object: 1m}
    small: {size: 1m, max_object: 256k}
compress:
  default: {algorithms: [gzip], min_length: 0, types: [text/*]}
routes:
  - {name: dttl, match: {path_prefix: /dttl/}, upstream: be, compress: off, cache: {zone: main, default_ttl: 60s}}
  - {name: swr, match: {path_prefix: /swr/}, upstream: be, compress: off, cache: {zone: main, stale_while_revalidate: 30s}}
  - {name: sie, match: {path_prefix: /sie/}, upstream: be2, compress: off, cache: {zone: main, stale_if_error: 2s}}
  - {name: siet, match: {path_prefix: /siet/}, upstream: be, compress: off, timeout: {read: 300ms}, cache: {zone: main, stale_if_error: 30s}}
  - {name: lock, match: {path_prefix: /lock/}, upstream: be, compress: off, cache: {zone: main, lock_timeout: 300ms}}
  - {name: lock1, match: {path_prefix: /lock1/}, upstream: be, compress: off, cache: {zone: main, lock_timeout: 1s}}
  - {name: small, match: {path_prefix: /small/}, upstream: be, compress: off, cache: {zone: small}}
  - {name: gets, match: {path_prefix: /gets/}, upstream: be, compress: off, cache: {zone: main, methods: [GET]}}
  - {name: hop, match: {path_prefix: /builtin/}, strip_prefix: /builtin, upstream: be, compress: off, cache: {zone: main, default_ttl: 60s}}
  - {name: keyed, match: {path_prefix: /k/}, upstream: be, compress: off, cache: {zone: main, key: [path, header:x-tenant, cookie:plan]}}
  - {name: gz, match: {path_prefix: /gz/}, upstream: be, cache: {zone: main}}
  - {name: plain, match: {path_prefix: /}, upstream: be, compress: off, cache: {zone: main}}
CONF
$t->write_conf($CONF);
$t->start;
my $port = $t->port('http');

# ---------------------------------------------------------------------------------------------
# helpers

# A subtest; CACHE_TEST_ONLY=REGEX runs only those whose name matches (for a quick look at one).
sub case {
    my ($name, $code) = @_;
    return if defined $ENV{CACHE_TEST_ONLY} && $name !~ /$ENV{CACHE_TEST_ONLY}/;
    subtest($name, $code);
}

# METHOD PATH with these fields ([name, value] ...); Host cache.test unless a Host is given.
sub req {
    my ($method, $path, @fields) = @_;
    my ($host) = map { $_->[1] } grep { lc $_->[0] eq 'host' } @fields;
    @fields = grep { lc $_->[0] ne 'host' } @fields;
    my $c = http_connect($port, timeout => 15) or return undef;
    $c->send(build_request($method, $path, host => $host // 'cache.test', headers => [@fields, ['Connection', 'close']]))
        or return undef;
    my $r = $c->read_response(head => $method eq 'HEAD', timeout => 15);
    $c->close;
    return $r;
}
sub get { req('GET', @_) }
sub xcs { my $r = shift; $r ? $r->{headers}{'x-cache-status'} // 'none' : 'no response' }
sub nth { my $r = shift; $r && $r->{body} =~ /^path=\S+ n=(\d+)/ ? $1 : 0 }
sub metric { metric_sum($t->metrics // {}, @_) // 0 }

# The statuses of GET PATH made $k times in a row.
sub statuses { my ($path, $k, @f) = @_; join ' ', map { xcs(get($path, @f)) } 1 .. $k }

# Waits until the wall clock has passed the second boundary after which an object that arrived
# at $t_after (the time its response was read) with a lifetime of $life seconds is stale (the
# gateway counts ages in whole seconds: stored_at <= int($t_after)).
sub wait_past {
    my ($t_after, $life) = @_;
    my $until = int($t_after) + $life + 0.02;
    return wait_until(sub { time >= $until }, $life + 3, 0.01);
}
# Waits for the start of a second (its first 0.3 s), so an object with max-age=1 stored now is
# still fresh for the checks right after it.
sub second_start { wait_until(sub { time - int(time) < 0.3 }, 2, 0.005) }

# ---------------------------------------------------------------------------------------------

case 'freshness (RFC 9111)' => sub {
    # max-age
    my $p = '/f/maxage?' . qs(cc => 'max-age=60');
    is(statuses($p, 3), 'MISS HIT HIT', 'max-age=60: MISS, then HIT');
    is(upstream_count('/f/maxage'), 1, 'max-age=60: one upstream request');

    # s-maxage wins over max-age (both ways)
    $p = '/f/smax0?' . qs(cc => 'max-age=0, s-maxage=60');
    is(statuses($p, 2), 'MISS HIT', 's-maxage=60 with max-age=0: stored, HIT');
    $p = '/f/smax1?' . qs(cc => 'max-age=60, s-maxage=0');
    is(statuses($p, 2), 'MISS MISS', 's-maxage=0 with max-age=60: not served from the cache');

    # Expires - Date
    $p = '/f/expires?' . qs(exp => 60);
    is(statuses($p, 2), 'MISS HIT', 'Expires: Date + 60: HIT');
    $p = '/f/expdate?' . qs(date => -30, exp => 30);
    is(statuses($p, 2), 'MISS HIT', 'Expires 30 s ahead, Date 30 s ago (lifetime 60, age 30): HIT');
    my $r = get($p);
    ok(($r->{headers}{age} // 0) >= 30, "... its Age counts from the backend's Date (Age $r->{headers}{age})");
    $p = '/f/expskew?' . qs(date => -100, exp => -40);
    is(statuses($p, 2), 'MISS EXPIRED', 'Expires - Date = 60 but the response is 100 s old: stale');
    $p = '/f/exppast?' . qs(exp => -10);
    is(statuses($p, 2), 'MISS MISS', 'Expires in the past (no validator): not stored');
    $p = '/f/expmaxage?' . qs(exp => -10, cc => 'max-age=60');
    is(statuses($p, 2), 'MISS HIT', 'max-age wins over a past Expires');

    # the upstream's Age counts
    $r = get('/f/age30?' . qs(cc => 'max-age=60', age => 30));
    $r = get('/f/age30?' . qs(cc => 'max-age=60', age => 30));
    ok(xcs($r) eq 'HIT' && ($r->{headers}{age} // 0) >= 30, "Age: 30 from the upstream, max-age=60: HIT with Age $r->{headers}{age}");
    is(statuses('/f/age100?' . qs(cc => 'max-age=60', age => 100, etag => '"a"'), 2), 'MISS REVALIDATED', 'Age: 100 from the upstream, max-age=60: stale at once (revalidated)');

    # not stored
    for my $case (['nostore', { cc => 'no-store, max-age=60' }, 'no-store'],
                  ['private', { cc => 'private, max-age=60' }, 'private'],
                  ['private2', { cc => 'private="set-cookie", max-age=60' }, 'private="field"'],
                  ['cookie', { cc => 'max-age=60', cookie => 1 }, 'Set-Cookie'],
                  ['varystar', { cc => 'max-age=60', vary => '*' }, 'Vary: *'],
                  ['noftl', {}, 'no Cache-Control, default_ttl 0']) {
        my ($name, $q, $what) = @$case;
        is(statuses("/f/$name?" . qs(%$q), 2), 'MISS MISS', "$what: not stored");
        is(upstream_count("/f/$name"), 2, "$what: both requests reach the backend");
    }

    # no-cache: stored, revalidated before every use
    $p = '/f/nocache?' . qs(cc => 'no-cache', etag => '"nc1"');
    is(statuses($p, 3), 'MISS REVALIDATED REVALIDATED', 'no-cache with an ETag: stored, revalidated every time');
    my @s = seen('/f/nocache');
    is(scalar @s, 3, 'no-cache: every request asks the backend');
    is(join(' ', map { $_->{inm} } @s), '- "nc1" "nc1"', 'no-cache: the revalidations carry If-None-Match');
    $r = get($p);
    is($r->{status}, 200, 'no-cache: the client gets 200');
    like($r->{body}, qr/^path=\/f\/nocache n=1 /, 'no-cache: ... with the stored body');

    $p = '/f/nocachelm?' . qs(cc => 'no-cache', lm => 1);
    is(statuses($p, 2), 'MISS REVALIDATED', 'no-cache with Last-Modified: revalidated');
    is((seen('/f/nocachelm'))[1]{ims}, 'Tue, 01 Dec 2026 10:00:00 GMT', '... with If-Modified-Since: the Last-Modified');

    # Authorization
    my @auth = (['Authorization', 'Bearer x']);
    is(statuses('/f/auth?' . qs(cc => 'max-age=60'), 2, @auth), 'MISS MISS', 'Authorization, max-age=60: not stored');
    is(statuses('/f/authpub?' . qs(cc => 'public, max-age=60'), 2, @auth), 'MISS HIT', 'Authorization, public: stored');
    is(statuses('/f/authsmax?' . qs(cc => 's-maxage=60'), 2, @auth), 'MISS HIT', 'Authorization, s-maxage: stored');

    # default_ttl and statuses (route dttl: default_ttl 60s)
    is(statuses('/dttl/200', 2), 'MISS HIT', 'default_ttl 60s: a 200 without Cache-Control is stored');
    is(statuses('/dttl/404?status=404', 2), 'MISS HIT', 'default_ttl: a 404 is stored');
    $r = get('/dttl/404?status=404');
    is($r->{status}, 404, '... and answered as 404');
    is(statuses('/dttl/302?status=302', 2), 'MISS MISS', 'a 302 without explicit freshness: not stored');
    is(statuses('/dttl/302cc?' . qs(status => 302, cc => 'max-age=60'), 2), 'MISS HIT', 'a 302 with max-age: stored');
    is(statuses('/dttl/206?' . qs(status => 206, cc => 'max-age=60'), 2), 'MISS MISS', 'a 206: never stored');
    is(statuses('/dttl/500?' . qs(status => 500, cc => 'max-age=60'), 2), 'MISS MISS', 'a 500 with max-age: never stored');
    is(statuses('/dttl/503?' . qs(status => 503), 2), 'MISS MISS', 'a 503 under default_ttl: never stored');
    is(statuses('/dttl/range', 2, ['Range', 'bytes=0-3']), 'BYPASS BYPASS', 'a Range request: BYPASS');

    # Age grows, max-age=1 goes stale, must-revalidate (on the SWR route: still not served stale)
    second_start();
    my $pa = '/f/age?' . qs(cc => 'max-age=60');
    my $p1 = '/f/one?' . qs(cc => 'max-age=1');
    my $pm = '/swr/mustrev?' . qs(cc => 'max-age=1, must-revalidate');
    my $pe = '/f/expired?' . qs(cc => 'max-age=1', etag => '"e1"', cc2 => 'max-age=60');
    is(xcs(get($_)), 'MISS', "$_: MISS") for $pa, $p1, $pm, $pe;
    my $t_after = time;
    $r = get($pa);
    is(xcs($r), 'HIT', 'Age: a HIT');
    my $age0 = $r->{headers}{age};
    like($age0 // '', qr/^\d+$/, "Age on a hit: $age0");
    is(xcs(get($p1)), 'HIT', 'max-age=1: HIT within its second');
    ok(wait_past($t_after, 1), 'waited past the max-age=1 objects\' lifetime (the clock must move on)');
    $r = get($pa);
    ok(defined $r->{headers}{age} && $r->{headers}{age} > $age0, "Age grows: $age0 -> $r->{headers}{age}");
    is(xcs(get($p1)), 'EXPIRED', 'max-age=1 without a validator: EXPIRED once stale (refetched)');
    is(upstream_count('/f/one'), 2, 'max-age=1: refetched');
    $r = get($pm);
    is(xcs($r), 'EXPIRED', 'must-revalidate on a stale-while-revalidate route: EXPIRED, not UPDATING');
    is(nth($r), 2, '... answered by the backend');
    $r = get($pe);
    is(xcs($r), 'REVALIDATED', 'a stale object with an ETag: REVALIDATED');
    is(xcs(get($pe)), 'HIT', '... then HIT (the 304 gave it max-age=60)');
};

case 'status_header: a name of its own, and off' => sub {
    my $t2 = GatewayTest->new;
    $t2->set_port('be', $be->port);
    my $conf = <<'CONF';
worker_processes: 1
pid: logs/gatewayd.pid
error_log: logs/error.log
listeners:
  - address: 127.0.0.1:%%http%%
  - {address: 127.0.0.1:%%admin%%, admin: true}
upstreams:
  be: {servers: [{address: 127.0.0.1:%%be%%}]}
cache:
  zones: {edge: {size: 4m}}
  status_header: STATUS
routes:
  - {name: all, match: {path_prefix: /}, upstream: be, cache: {zone: edge}}
CONF
    (my $c1 = $conf) =~ s/STATUS/X-Edge-Cache/;
    $t2->write_conf($c1);
    $t2->start;
    my $g = sub { my $c = http_connect($t2->port('http')) or return undef;
                  $c->send(build_request('GET', $_[0], host => 'sh.test')); $c->read_response };
    my $p = '/sh/a?' . qs(cc => 'max-age=60');
    my $r1 = $g->($p);
    my $r2 = $g->($p);
    is($r1->{headers}{'x-edge-cache'}, 'MISS', 'status_header X-Edge-Cache: MISS');
    is($r2->{headers}{'x-edge-cache'}, 'HIT', 'status_header X-Edge-Cache: HIT');
    ok(!exists $r2->{headers}{'x-cache-status'}, 'no X-Cache-Status then');
    (my $c2 = $conf) =~ s/STATUS/off/;
    $t2->write_conf($c2);
    my $gen = ($t2->status_json // {})->{generation} // 0;
    $t2->signal('HUP');
    ok(wait_until(sub { (($t2->status_json // {})->{generation} // 0) > $gen }, 10), 'reloaded with status_header: off');
    my $r3;
    ok(wait_until(sub { $r3 = $g->($p); $r3 && !exists $r3->{headers}{'x-edge-cache'} }, 5), 'off: no status field');
    ok(!exists $r3->{headers}{'x-cache-status'}, 'off: no X-Cache-Status either');
    like($r3->{body}, qr/^path=\/sh\/a n=1 /, 'off: still served from the cache (the reload kept the zone)');
    $t2->stop;
};

case 'Vary: two variants of one key' => sub {
    my $p = '/v/lang?' . qs(cc => 'max-age=60', vary => 'Accept-Language');
    my $en = ['Accept-Language', 'en'];
    my $fr = ['Accept-Language', 'fr'];
    my $r = get($p, $en);
    is(xcs($r), 'MISS', 'en: MISS');
    like($r->{body}, qr/al=en$/m, 'en body');
    $r = get($p, $fr);
    is(xcs($r), 'MISS', 'fr: MISS (another variant)');
    like($r->{body}, qr/al=fr$/m, 'fr body');
    for (1 .. 2) {
        $r = get($p, $en);
        is(xcs($r) . ' ' . ($r->{body} =~ /al=(\w*)/)[0], 'HIT en', 'en: HIT with the en body');
        $r = get($p, $fr);
        is(xcs($r) . ' ' . ($r->{body} =~ /al=(\w*)/)[0], 'HIT fr', 'fr: HIT with the fr body');
    }
    $r = get($p);
    is(xcs($r), 'MISS', 'no Accept-Language: a third variant, MISS');
    is(xcs(get($p)), 'HIT', '... then HIT');
    is(upstream_count('/v/lang'), 3, 'three upstream requests in all');
    my $c = http_connect($t->port('admin'));
    $c->send(build_request('DELETE', '/cache/main?key=' . enc("GET cache.test /v/lang " . ($p =~ /\?(.*)/)[0]), host => 'admin'));
    $r = $c->read_response;
    is((parse_json($r->{body}) // {})->{purged}, 3, 'purge by key: the three variants went') or diag($r->{body});
    is(xcs(get($p, $en)) . ' ' . xcs(get($p, $fr)), 'MISS MISS', 'then en and fr: MISS');
};

case 'revalidation (304) and conditional requests' => sub {
    second_start();
    my $p = '/r/etag?' . qs(cc => 'max-age=1', cc2 => 'max-age=60', etag => '"v1"');
    my $pc = '/r/many?' . qs(cc => 'max-age=1', cc2 => 'max-age=60', etag => '"m1"');
    is(xcs(get($pc)), 'MISS', 'another: MISS');
    my $r = get($p);
    is(xcs($r), 'MISS', 'MISS');
    my $t_after = time;
    # a client's If-None-Match that matches the fresh object: 304 from the cache
    $r = get($p, ['If-None-Match', '"v1"']);
    is($r->{status}, 304, 'If-None-Match "v1" on a fresh object: 304');
    is(xcs($r), 'HIT', '... from the cache (HIT)');
    is($r->{headers}{etag}, '"v1"', '... with its ETag');
    $r = get($p, ['If-None-Match', 'W/"v1", "other"']);
    is($r->{status}, 304, 'a weak tag in a list matches too (weak comparison)');
    $r = get($p, ['If-None-Match', '"nope"']);
    is($r->{status}, 200, 'a tag that does not match: 200');
    is(upstream_count('/r/etag'), 1, 'the upstream was not asked');
    ok(wait_past($t_after, 1), 'waited until the max-age=1 object is stale');
    $r = get($p);
    is($r->{status}, 200, 'stale: the client gets 200');
    is(xcs($r), 'REVALIDATED', '... REVALIDATED');
    ok(($r->{headers}{age} // 99) < 1, "... its Age is the refreshed object's (Age: " . ($r->{headers}{age} // 'none') . ')');
    like($r->{body}, qr/^path=\/r\/etag n=1 /, '... with the stored body');
    my @s = seen('/r/etag');
    is(scalar @s, 2, 'one revalidation request');
    is($s[1]{inm}, '"v1"', 'it carried If-None-Match: "v1"');
    $r = get($p);
    is(xcs($r), 'HIT', 'next: HIT');
    like($r->{body}, qr/ n=1 /, '... the stored body');
    # 50 at once for a stale object: one revalidation, the others wait for it
    my @c = concurrent(50, $pc, timeout => 10);
    my %st;
    $st{"$_->{status}/$_->{xcs}"}++ for @c;
    is(join(' ', map { "$_:$st{$_}" } sort keys %st), '200/HIT:49 200/REVALIDATED:1', '50 concurrent on a stale object: 1 REVALIDATED, 49 HIT');
    is(scalar(grep { $_->{body} =~ /^path=\/r\/many n=1 / } @c), 50, '... all with the stored body');
    is(upstream_count('/r/many'), 2, '... one revalidation request');
    is($r->{headers}{'cache-control'}, 'max-age=60', 'the 304\'s Cache-Control was merged in');

    # Last-Modified: If-Modified-Since from the cache
    $p = '/r/lm?' . qs(cc => 'max-age=60', lm => 1);
    get($p);
    $r = get($p, ['If-Modified-Since', 'Wed, 02 Dec 2026 10:00:00 GMT']);
    is($r->{status}, 304, 'If-Modified-Since after Last-Modified: 304 from the cache');
    $r = get($p, ['If-Modified-Since', 'Mon, 30 Nov 2026 10:00:00 GMT']);
    is($r->{status}, 200, 'If-Modified-Since before Last-Modified: 200');
    is(upstream_count('/r/lm'), 1, 'the upstream was asked once');

    # the client's conditional fields are not forwarded
    $p = '/r/fwd?' . qs(cc => 'max-age=60', etag => '"f1"');
    $r = get($p, ['If-None-Match', '"f1"'], ['If-Modified-Since', 'Wed, 02 Dec 2026 10:00:00 GMT']);
    is($r->{status}, 200, 'a miss with the client\'s If-None-Match: the full response (the cache fills)');
    @s = seen('/r/fwd');
    is($s[0]{inm} . ' ' . $s[0]{ims}, '- -', 'the client\'s If-None-Match and If-Modified-Since did not reach the upstream');
    is(xcs(get($p)), 'HIT', 'stored');
};

case 'conditional fields of requests the cache does not answer reach the upstream' => sub {
    # A PUT with If-None-Match: * creates only when nothing is there (RFC 9110 §13.1.2): the
    # upstream must see the field. The cache drops the client's If-None-Match and
    # If-Modified-Since on its routes (CacheFilter::request_field_names: it answers them for the
    # requests it serves); a request it passes by (BYPASS) must carry them still.
    my $c = http_connect($port) or return fail('connect');
    $c->send(build_request('PUT', '/f/put', host => 'cache.test', body => 'new',
                           headers => [['If-None-Match', '*'], ['Connection', 'close']]));
    my $r = $c->read_response;
    is($r->{status} . ' ' . xcs($r), '200 BYPASS', 'PUT on a cache route: BYPASS');
    my @s = seen('/f/put');
    is($s[0]{method}, 'PUT', 'the PUT reached the upstream');
    is($s[0]{inm}, '*', '... with its If-None-Match: *');
    $r = get('/f/range', ['Range', 'bytes=0-3'], ['If-None-Match', '"r1"'], ['If-Modified-Since', 'Wed, 02 Dec 2026 10:00:00 GMT']);
    is(xcs($r), 'BYPASS', 'a Range GET: BYPASS');
    @s = seen('/f/range');
    is("$s[0]{inm} | $s[0]{ims}", '"r1" | Wed, 02 Dec 2026 10:00:00 GMT', '... its If-None-Match and If-Modified-Since reach the upstream');
};

case 'stale-while-revalidate' => sub {
    second_start();
    my $p = '/swr/a?' . qs(cc => 'max-age=1', cc2 => 'max-age=60', delay2 => 1500);
    is(xcs(get($p)), 'MISS', 'MISS');
    my $t_after = time;
    ok(wait_past($t_after, 1), 'waited until stale');
    my $t0 = time;
    my $r = get($p);
    my $took = time - $t0;
    is(xcs($r), 'UPDATING', 'stale within the window: UPDATING');
    like($r->{body}, qr/ n=1 /, '... the old body');
    ok($took < 0.5, sprintf('... at once (%.0f ms; the backend takes 1500 ms)', $took * 1000));
    $r = get($p);
    is(xcs($r), 'UPDATING', 'again while the refresh runs: UPDATING');
    ok(wait_until(sub { upstream_count('/swr/a') >= 2 }, 5), 'the background request reached the backend');
    my $hit;
    ok(wait_until(sub { $hit = get($p); xcs($hit) eq 'HIT' }, 5, 0.05), 'then HIT');
    like($hit->{body}, qr/ n=2 /, '... with the new body');
    is(upstream_count('/swr/a'), 2, 'exactly one background request');
    is((seen('/swr/a'))[1]{host}, 'cache.test', 'the background request carries the client\'s Host');

    # a variant (Vary: Accept-Language) is refreshed as that variant
    second_start();
    $p = '/swr/vary?' . qs(cc => 'max-age=1', cc2 => 'max-age=60', from2 => 3, vary => 'Accept-Language');
    my ($en, $fr) = (['Accept-Language', 'en'], ['Accept-Language', 'fr']);
    is(xcs(get($p, $en)) . ' ' . xcs(get($p, $fr)), 'MISS MISS', 'two variants: MISS MISS');
    ok(wait_past(time, 1), 'waited until stale');
    is(xcs(get($p, $en)), 'UPDATING', 'en: UPDATING');
    ok(wait_until(sub { $r = get($p, $en); xcs($r) eq 'HIT' }, 5, 0.05), 'en: then HIT');
    like($r->{body}, qr/ n=3 al=en$/m, '... the refreshed en body');
    is((seen('/swr/vary'))[2]{al}, 'en', 'the background request asked for en');
    $r = get($p, $fr);
    is(xcs($r) . ' ' . ($r->{body} =~ /al=(\w+)/)[0], 'UPDATING fr', 'fr: still its own (stale) variant, UPDATING')
        or diag("fr: Age $r->{headers}{age}, body $r->{body}; backend: " . join(' ', map { "n=$_->{n}/al=$_->{al}" } seen('/swr/vary')));

    # a request with Authorization is not refreshed in the background: revalidated by itself
    second_start();
    my @auth = (['Authorization', 'Bearer x']);
    $p = '/swr/auth?' . qs(cc => 'public, max-age=1', cc2 => 'public, max-age=60');
    is(xcs(get($p, @auth)), 'MISS', 'Authorization, public: MISS');
    ok(wait_past(time, 1), 'waited until stale');
    $r = get($p, @auth);
    is(xcs($r), 'EXPIRED', 'stale, with Authorization: EXPIRED (the client\'s own request goes upstream)');
    is((seen('/swr/auth'))[1]{auth}, 'Bearer x', '... with its credentials');

    # a route without stale_while_revalidate: the response's directive opens the window
    second_start();
    $p = '/f/swrdir?' . qs(cc => 'max-age=1, stale-while-revalidate=30', cc2 => 'max-age=60');
    is(xcs(get($p)), 'MISS', 'stale-while-revalidate=30 in the response: MISS');
    ok(wait_past(time, 1), 'waited until stale');
    is(xcs(get($p)), 'UPDATING', '... UPDATING');
    ok(wait_until(sub { xcs(get($p)) eq 'HIT' }, 5, 0.05), '... then HIT');
    is(upstream_count('/f/swrdir'), 2, 'one background request');
};

case 'stale-if-error' => sub {
    second_start();
    # the response's stale-if-error=2, the backend answering 500 after
    my $p = '/f/sie?' . qs(cc => 'max-age=1, stale-if-error=2', status2 => 500);
    my $pm = '/f/siemr?' . qs(cc => 'max-age=1, stale-if-error=30, must-revalidate', status2 => 500);
    # the route's stale_if_error (2s), the backend stopped after
    my $pd = '/sie/down?' . qs(cc => 'max-age=1');
    # the route's stale_if_error (30s), the backend too slow after (read timeout 300ms: 504)
    my $pt = '/siet/slow?' . qs(cc => 'max-age=1', delay2 => 2000);
    is(xcs(get($_)), 'MISS', "$_: MISS") for $p, $pm, $pd, $pt;
    my $t_after = time;
    ok(wait_past($t_after, 1), 'waited until stale');
    my $r = get($p);
    is($r->{status} . ' ' . xcs($r), '200 STALE', 'backend 500: STALE');
    like($r->{body}, qr/ n=1 /, '... with the old body');
    $r = get($pm);
    is($r->{status}, 500, 'must-revalidate: the 500, never stale');
    $r = get($pt);
    is($r->{status} . ' ' . xcs($r), '200 STALE', 'backend too slow (504): STALE');
    like($r->{body}, qr/^path=\/siet\/slow n=1 /, '... with the old body');
    $be2->stop;
    $r = get($pd);
    is($r->{status} . ' ' . xcs($r), '200 STALE', 'backend down: STALE');
    like($r->{body}, qr/^path=\/sie\/down n=1 /, '... with the old body');
    ok(wait_past($t_after, 3), 'waited past max-age + stale-if-error (3 s)');
    $r = get($p);
    is($r->{status}, 500, 'past stale-if-error: the backend\'s 500');
    isnt(xcs($r), 'STALE', '... not STALE');
    $r = get($pd);
    is($r->{status}, 502, 'past stale_if_error, backend down: 502');
    ok(metric('gateway_cache_requests_total', { cache_status => 'STALE' }) >= 2, 'STALE counted');
    $be2 = Backend->new(name => 'be2', port => $t->port('be2'), handler => handler('be2'))->start;
};

case 'purge on the admin listener' => sub {
    my @h = (['Host', 'Purge.Test']);
    my @paths = ('/p/a?x=1', '/p/pre1', '/p/pre2', '/p/other');
    for my $p (@paths) {
        my $u = "$p" . ($p =~ /\?/ ? '&' : '?') . 'cc=max-age%3D60';
        is(statuses($u, 2, @h), 'MISS HIT', "$p: stored");
    }
    my $admin = $t->port('admin');
    my $adm = sub {
        my ($m, $path) = @_;
        my $c = http_connect($admin) or return undef;
        $c->send(build_request($m, $path, host => 'admin')) or return undef;
        $c->read_response;
    };
    my $r = $adm->('GET', '/cache/main');
    is($r->{status}, 200, 'GET /cache/main: 200');
    my $j = parse_json($r->{body}) // {};
    ok(($j->{objects} // 0) >= 4 && ($j->{bytes} // 0) > 0, "counts: $j->{objects} objects, $j->{bytes} bytes");
    my $before = $j->{objects} // 0;
    is($adm->('GET', '/cache/nope')->{status}, 404, 'an unknown zone: 404');
    is($adm->('DELETE', '/cache/nope?key=x')->{status}, 404, 'DELETE in an unknown zone: 404');

    $r = $adm->('DELETE', '/cache/main?key=' . enc('GET purge.test /p/a x=1&cc=max-age%3D60'));
    is($r->{status}, 200, 'DELETE ?key=: 200');
    is((parse_json($r->{body}) // {})->{purged}, 1, 'one object purged') or diag($r->{body});
    is(xcs(get('/p/a?x=1&cc=max-age%3D60', @h)), 'MISS', 'the purged key: MISS');
    is(xcs(get('/p/pre1?cc=max-age%3D60', @h)), 'HIT', 'another key: still HIT');

    $r = $adm->('DELETE', '/cache/main?prefix=' . enc('GET purge.test /p/pre'));
    is((parse_json($r->{body}) // {})->{purged}, 2, 'DELETE ?prefix=: two objects purged') or diag($r->{body});
    is(xcs(get('/p/pre1?cc=max-age%3D60', @h)), 'MISS', 'pre1: MISS');
    is(xcs(get('/p/pre2?cc=max-age%3D60', @h)), 'MISS', 'pre2: MISS');
    is(xcs(get('/p/other?cc=max-age%3D60', @h)), 'HIT', 'other: still HIT');
    $j = parse_json($adm->('GET', '/cache/main')->{body}) // {};
    is($j->{objects}, $before, 'GET /cache/main: the count after purge and refill');
    is($adm->('DELETE', '/cache/main')->{status}, 400, 'DELETE without key= or prefix=: 400');
    is(get('/cache/main')->{status} == 200 && (get('/cache/main')->{body} // '') =~ /"zone"/ ? 'admin' : 'not admin',
       'not admin', 'the endpoint is not on the public listener');
};

# ---------------------------------------------------------------------------------------------
# many concurrent clients: non-blocking sockets, one request each; the completion time of each
# (the moment its whole response was read)

sub concurrent {
    my ($n, $path, %o) = @_;
    my $poll = IO::Poll->new;
    my @c;
    for my $i (1 .. $n) {
        socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
        setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
        $s->blocking(0);
        connect($s, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or $! == EINPROGRESS or die "connect: $!";
        push @c, { s => $s, out => build_request('GET', $path, host => 'cache.test', headers => [['Connection', 'close']]),
                   in => '', done => undef };
        $poll->mask($s => POLLOUT);
    }
    my %by = map { fileno($_->{s}) => $_ } @c;
    my $left = $n;
    my $start = time;
    my $deadline = $start + ($o{timeout} // 20);
    # abandon => [SECONDS, INDEX...]: those clients leave (close) that long after the start
    my ($leave_at, @leave) = @{ $o{abandon} || [] };
    while ($left && time < $deadline) {
        $poll->poll(defined $leave_at ? 0.01 : 0.5);
        my $now = time;
        if (defined $leave_at && $now >= $start + $leave_at) {
            for my $x (@c[@leave]) { $poll->remove($x->{s}); shutdown($x->{s}, 2); $x->{left} = 1; $left-- }
            undef $leave_at;
        }
        for my $fh ($poll->handles(POLLOUT)) {
            my $x = $by{ fileno $fh };
            my $w = syswrite($fh, $x->{out});
            if (defined $w) { substr($x->{out}, 0, $w, ''); $poll->mask($fh => POLLIN) unless length $x->{out} }
            elsif ($! != EAGAIN && $! != EWOULDBLOCK) { $x->{error} = "write: $!"; $poll->remove($fh); $left-- }
        }
        for my $fh ($poll->handles(POLLIN | POLLHUP | POLLERR)) {
            my $x = $by{ fileno $fh };
            next if length $x->{out};
            my $k = sysread($fh, my $buf, 65536);
            next if !defined $k && ($! == EAGAIN || $! == EWOULDBLOCK);
            if ($k) { $x->{in} .= $buf; $x->{last} = $now; next }
            $x->{done} = $x->{last} // $now;    # closed (Connection: close): complete
            $x->{error} = "read: $!" unless defined $k;
            $poll->remove($fh);
            $left--;
        }
    }
    for my $x (@c) {
        next if $x->{left};
        close $x->{s};
        my ($head, $body) = split /\r\n\r\n/, $x->{in}, 2;
        $x->{status} = $head && $head =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0;
        $x->{xcs} = $head && $head =~ /^x-cache-status: *(\S+)/mi ? $1 : 'none';
        $x->{body} = $body // '';
    }
    return @c;
}

case 'coalescing: 1,000 concurrent requests for one cold key' => sub {
    my $path = '/co/cold?' . qs(cc => 'max-age=60', delay => 300, len => 2000);
    my $coalesced0 = metric('gateway_cache_coalesced_total');
    my $per_worker = sub { my $j = $t->status_json // {}; map { $_->{slot} => $_->{requests} } @{ $j->{workers} || [] } };
    my %w0 = $per_worker->();
    my $t0 = time;
    my @c = concurrent(1000, $path);
    my $took = time - $t0;
    my @ok = grep { $_->{status} == 200 } @c;
    is(scalar @ok, 1000, 'every client got 200') or diag(join ', ', map { "$_->{status} $_->{xcs} " . ($_->{error} // '') } grep { $_->{status} != 200 } @c[0 .. 9]);
    is(upstream_count('/co/cold'), 1, 'exactly 1 request reached the backend');
    my %bodies = map { md5_hex($_->{body}) => 1 } @c;
    is(scalar keys %bodies, 1, 'every client got the same body');
    like($c[0]{body}, qr/^path=\/co\/cold n=1 /, '... the backend\'s first (and only) answer');
    is(length $c[0]{body}, 2000, '... all of it');
    my %st;
    $st{ $_->{xcs} }++ for @c;
    is($st{MISS}, 1, 'one MISS (the fill)') or diag(explain \%st);
    is($st{HIT}, 999, '999 HIT (the waiters, answered from the fill\'s object)');
    my @done = sort { $a <=> $b } map { $_->{done} // 1e18 } @c;
    my $spread = ($done[-1] - $done[0]) * 1000;
    my $p99 = ($done[989] - $done[0]) * 1000;
    # where the answers fall, in 10 ms steps after the first
    my %hist;
    $hist{ int(($_ - $done[0]) * 100) }++ for @done;
    my $hist = join ' ', map { sprintf('%d-%dms:%d', $_ * 10, $_ * 10 + 10, $hist{$_}) } sort { $a <=> $b } keys %hist;
    my ($fill) = grep { $_->{xcs} eq 'MISS' } @c;
    diag(sprintf('the fill (MISS) completed %.1f ms after the first answer; answers by 10 ms after the first: %s',
                 (($fill->{done} // 0) - $done[0]) * 1000, $hist));
    ok($spread < 100, sprintf('the last answer %.1f ms after the first (p99 %.1f ms; all 1,000 in %.0f ms)', $spread, $p99, $took * 1000));
    diag(sprintf('coalescing: completion spread %.1f ms after the first completion (p99 %.1f ms), 1,000 requests in %.0f ms',
                 $spread, $p99, $took * 1000));
    my %w1 = $per_worker->();
    my @share = map { ($w1{$_} // 0) - ($w0{$_} // 0) } sort keys %w1;
    is(scalar(grep { $_ >= 100 } @share), 2, "both workers took part (requests by worker: @share)");
    my $co = metric('gateway_cache_coalesced_total') - $coalesced0;
    ok($co >= 900, "gateway_cache_coalesced_total grew by $co (waiters)");
    is(xcs(get($path)), 'HIT', 'then HIT');
};

case 'coalescing: a failed fill wakes the waiters' => sub {
    for my $fail (qw(500 closemid)) {
        my $path = "/co/fail-$fail?" . qs(cc => 'max-age=60', delay1 => 400, fail1 => $fail);
        my $t0 = time;
        my @c = concurrent(20, $path, timeout => 10);
        my $took = time - $t0;
        my @first = grep { $_->{status} != 200 || length($_->{body}) < 20 } @c;
        is(scalar @first, 1, "$fail: one client got the failed fill") or diag(join ' ', map { "$_->{status}/$_->{xcs}" } @c);
        my @good = grep { $_->{status} == 200 && $_->{body} =~ /^path=\S+ n=2 / } @c;
        is(scalar @good, 19, "$fail: the 19 waiters got the next response (n=2)");
        is(upstream_count("/co/fail-$fail"), 2, "$fail: the waiters went upstream: one of them filled, the rest waited for it");
        ok($took < 3, sprintf('%s: all answered in %.0f ms (lock_timeout is 5 s: they were woken)', $fail, $took * 1000));
        is(xcs(get($path)), 'HIT', "$fail: then HIT");
    }
};

# The filling request, from a child process: its answer ("STATUS XCS N") on the returned handle;
# with $leave, the client closes its connection that many seconds after sending instead.
sub filler {
    my ($path, $leave) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    return $fh if $pid;
    my $c = http_connect($port, timeout => 15);
    $c->send(build_request('GET', $path, host => 'cache.test', headers => [['Connection', 'close']]));
    if ($leave) {
        my $until = time + $leave;    # a client that gives up after $leave s
        sleep 0.01 while time < $until;
        POSIX::_exit(0);
    }
    my $r = $c->read_response(timeout => 15);
    printf "%s %s %s\n", $r ? $r->{status} : 0, xcs($r), nth($r);
    POSIX::_exit(0);
}

case 'coalescing: clients that leave' => sub {
    # waiters that leave: the others are answered from the fill
    my $path = '/co/leave-w?' . qs(cc => 'max-age=60', delay1 => 600);
    my $fh = filler($path);
    ok(wait_until(sub { upstream_count('/co/leave-w') >= 1 }, 5, 0.01), 'the fill reached the backend');
    my @c = concurrent(10, $path, timeout => 10, abandon => [0.1, 0 .. 4]);
    is(join(' ', map { "$_->{status}/$_->{xcs}/" . nth($_) } @c[5 .. 9]), join(' ', ('200/HIT/1') x 5),
       '5 of 10 waiters left: the other 5 got the fill\'s object');
    is(scalar(<$fh>), "200 MISS 1\n", 'the fill completed');
    close $fh;
    is(upstream_count('/co/leave-w'), 1, 'one upstream request');

    # the filler's client leaves: its fill ends there, the waiters go on without it
    $path = '/co/leave-f?' . qs(cc => 'max-age=60', delay1 => 600);
    $fh = filler($path, 0.2);
    ok(wait_until(sub { upstream_count('/co/leave-f') >= 1 }, 5, 0.01), 'the fill reached the backend');
    my $t0 = time;
    @c = concurrent(10, $path, timeout => 10);
    my $took = time - $t0;
    close $fh;
    is(scalar(grep { $_->{status} == 200 && nth($_) == 2 } @c), 10, 'the filler\'s client left: the 10 waiters got the next fill (n=2)')
        or diag(join ' ', map { "$_->{status}/$_->{xcs}/" . nth($_) } @c);
    is(join(' ', sort map { $_->{xcs} } @c), join(' ', ('HIT') x 9, 'MISS'), 'one of them filled (MISS), 9 HIT');
    ok($took < 1.5, sprintf('... within %.0f ms (woken when the fill ended, not after lock_timeout)', $took * 1000));
    is(upstream_count('/co/leave-f'), 2, 'two upstream requests: the abandoned fill and the next');
    is(metric('gateway_worker_restarts_total'), 0, 'no worker died');
};

case 'coalescing: lock_timeout' => sub {
    # route lock: lock_timeout 300ms; the fill takes 1500 ms
    my $path = '/lock/slow?' . qs(cc => 'max-age=60', delay1 => 1500);
    my $fill;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        my $r = get($path);
        printf "%s %s %s\n", $r ? $r->{status} : 0, xcs($r), nth($r);
        POSIX::_exit(0);
    }
    ok(wait_until(sub { upstream_count('/lock/slow') >= 1 }, 5, 0.01), 'the fill reached the backend');
    my $t0 = time;
    my @c = concurrent(5, $path, timeout => 10);
    my $took = time - $t0;
    # Past lock_timeout the fill's claim has expired: the first waiter to look claims the fill
    # anew (Store::claim_fill: "a fill that outlived its lock") and goes upstream (MISS, stored);
    # the others go upstream too (MISS, not stored) or, when they look after that second fill
    # ended, are answered from it (HIT) - which depends on timing. Never from the slow fill.
    my $got = join(' ', map { "$_->{status}/$_->{xcs}" } @c);
    is(scalar(grep { $_->{status} == 200 && $_->{xcs} =~ /^(MISS|HIT)$/ } @c), 5, "the waiters: answered ($got)");
    my @up = grep { $_->{xcs} eq 'MISS' } @c;
    ok(@up >= 1, 'at least one went upstream itself (' . scalar(@up) . ')');
    is(scalar(grep { $_->{body} =~ / n=1 / } @c), 0, '... none waited for the slow fill (n=1)');
    ok($took > 0.25 && $took < 1.3, sprintf('... after %.0f ms (lock_timeout 300 ms; the fill takes 1500 ms)', $took * 1000));
    is(upstream_count('/lock/slow'), 1 + @up, 'upstream requests: the fill and the waiters that went upstream');
    my $line = <$fh>;
    close $fh;
    is($line, "200 MISS 1\n", 'the fill completed');
    my $r = get($path);
    is(xcs($r), 'HIT', 'the fill\'s response was stored');
    is(nth($r), 1, '... the fill\'s (n=1), not a waiter\'s');
};

case 'coalescing: a fill that outlived its lock does not end the next one\'s' => sub {
    # route lock1: lock_timeout 1s. A's fill takes 3 s and may not be stored (no-store); B comes
    # at 2.5 s, when A's claim has expired: B claims the fill anew (its fill takes 1 s, stored).
    # A ends at 3 s; C comes right after: B's claim is live (until 3.5 s), so C waits for B's
    # fill and is answered from it (HIT, n=2). A's end must not release B's claim.
    my $path = '/lock1/takeover?' . qs(cc => 'no-store', cc2 => 'max-age=60', delay1 => 3000, delay2 => 1000);
    my $t0 = time;
    my $fa = filler($path);
    ok(wait_until(sub { upstream_count('/lock1/takeover') >= 1 }, 5, 0.01), 'A reached the backend');
    ok(wait_until(sub { time >= $t0 + 2.5 }, 4, 0.01), 'waited until A\'s claim has expired (lock_timeout 1 s)');
    my $fb = filler($path);
    ok(wait_until(sub { upstream_count('/lock1/takeover') >= 2 }, 5, 0.01), 'B reached the backend: it claimed the fill');
    is(scalar(<$fa>), "200 MISS 1\n", 'A completed (not stored: no-store)');
    close $fa;
    my $tc = time - $t0;
    my $r = get($path);
    my $why = sprintf('C asked at %.2f s, answered at %.2f s: %s; backend requests: %s', $tc, time - $t0, xcs($r),
                      join(' ', map { sprintf('n=%d at %.2f s', $_->{n}, $_->{time} - $t0) } seen('/lock1/takeover')));
    is(xcs($r) . ' n=' . nth($r), 'HIT n=2', 'C, right after A: waited for B\'s fill and got its object') or diag($why);
    is(scalar(<$fb>), "200 MISS 2\n", 'B completed');
    close $fb;
    is(upstream_count('/lock1/takeover'), 2, 'two upstream requests (A, B), not three');
};

case 'HEAD' => sub {
    my $p = '/h/get?' . qs(cc => 'max-age=60');
    my $g = get($p);
    is(xcs($g), 'MISS', 'GET: MISS');
    # (a GET HIT first: the object is stored when the fill's stream completes, just after its
    # last bytes went out - a GET in that moment waits for the fill, a HEAD goes upstream)
    is(xcs(get($p)), 'HIT', 'GET: HIT');
    my $r = req('HEAD', $p);
    is($r->{status} . ' ' . xcs($r), '200 HIT', 'HEAD: HIT from the GET\'s object');
    is($r->{headers}{'content-length'}, length $g->{body}, '... with its Content-Length');
    is($r->{body}, '', '... no body');
    is(join(' ', map { $_->{method} } seen('/h/get')), 'GET', 'the backend saw only the GET');
    $p = '/h/head?' . qs(cc => 'max-age=60');
    is(xcs(req('HEAD', $p)), 'MISS', 'HEAD miss: MISS');
    is(xcs(req('HEAD', $p)), 'MISS', 'HEAD miss again: MISS (not stored)');
    is(xcs(get($p)), 'MISS', 'GET after it: MISS');
    is(xcs(get($p)), 'HIT', 'then HIT');
    is(join(' ', map { $_->{method} } seen('/h/head')), 'HEAD HEAD GET', 'the backend saw HEAD, HEAD, GET');
    # methods: [GET]: a HEAD bypasses
    $p = '/gets/x?' . qs(cc => 'max-age=60');
    get($p);
    is(xcs(req('HEAD', $p)), 'BYPASS', 'methods: [GET]: HEAD is BYPASS') ;
};

case 'stored heads and keys' => sub {
    # hop-by-hop fields are not stored (Backend.pm's /hop: Connection: keep-alive, X-Hop; X-Hop;
    # Keep-Alive; Proxy-Connection; X-Kept)
    is(statuses('/builtin/hop', 2), 'MISS HIT', '/hop: stored');
    my $r = get('/builtin/hop');
    is(xcs($r), 'HIT', 'HIT');
    ok(!exists $r->{headers}{$_}, "a hit has no $_") for qw(x-hop keep-alive proxy-connection);
    like($r->{headers}{connection} // 'none', qr/^(close|none)$/i, 'a hit\'s Connection is the gateway\'s own');
    is($r->{headers}{'x-kept'} // '', 'yes', 'a hit keeps the end-to-end fields') or diag($r->{head});
    is($r->{body}, 'hop', '... and the body');

    # key: [path, header:x-tenant, cookie:plan]
    my $p = '/k/a?' . qs(cc => 'max-age=60');
    my @a = (['X-Tenant', 'a'], ['Cookie', 'x=1; plan=gold']);
    my @b = (['X-Tenant', 'b'], ['Cookie', 'plan=gold']);
    is(statuses($p, 2, @a), 'MISS HIT', 'tenant a: MISS, HIT');
    is(statuses($p, 2, @b), 'MISS HIT', 'tenant b: another object');
    is(statuses('/k/a?other=1', 1, @a), 'HIT', 'the query is not in this key');
    is(statuses($p, 1, ['X-Tenant', 'a'], ['Cookie', 'plan=free']), 'MISS', 'another plan cookie: another object');
    my $c = http_connect($t->port('admin'));
    $c->send(build_request('DELETE', '/cache/main?key=' . enc('/k/a a gold'), host => 'admin'));
    $r = $c->read_response;
    is((parse_json($r->{body}) // {})->{purged}, 1, 'purge by the key "/k/a a gold"') or diag($r->{body});
    is(statuses($p, 1, @a), 'MISS', 'tenant a: MISS after it');
    is(statuses($p, 1, @b), 'HIT', 'tenant b: still HIT');
};

case 'max_object' => sub {
    my $n0 = metric('gateway_cache_not_stored_total');
    my $p = '/m/big?' . qs(cc => 'max-age=60', len => 1536 * 1024);
    my $r = get($p);
    is(length($r->{body}), 1536 * 1024, 'a 1.5 MiB body (max_object 1m): served whole');
    is(xcs($r), 'MISS', 'MISS');
    $r = get($p);
    is(xcs($r), 'MISS', 'again: MISS (not stored)');
    is(length($r->{body}), 1536 * 1024, '... served whole');
    # The first did not fit; the key then passes for 10 s (hit-for-pass): the second is not tried.
    is(metric('gateway_cache_not_stored_total') - $n0, 1, 'gateway_cache_not_stored_total counted the first (the second passed)');
    $n0 = metric('gateway_cache_not_stored_total');
    $p = '/m/bigchunked?' . qs(cc => 'max-age=60', len => 1536 * 1024, chunked => 1);
    $r = get($p);
    is(length($r->{body}) . ' ' . xcs($r), 1536 * 1024 . ' MISS', 'chunked, 1.5 MiB: served whole, MISS');
    $r = get($p);
    is(length($r->{body}) . ' ' . xcs($r), 1536 * 1024 . ' MISS', 'again: MISS (not stored), served whole');
    is(metric('gateway_cache_not_stored_total') - $n0, 1, 'gateway_cache_not_stored_total counted the first (the second passed)');
    is(statuses('/m/smallchunked?' . qs(cc => 'max-age=60', len => 100000, chunked => 1), 2), 'MISS HIT', 'a chunked 100 KB body: stored');
    $p = '/m/fits?' . qs(cc => 'max-age=60', len => 1000 * 1024);
    is(statuses($p, 2), 'MISS HIT', 'a 1000 KiB body: stored');
};

case 'eviction in a small zone' => sub {
    my $ev0 = metric('gateway_cache_evictions_total', { zone => 'small' });
    my @p = map { "/small/o$_?" . qs(cc => 'max-age=60', len => 200 * 1024) } 1 .. 12;
    is(xcs(get($_)), 'MISS', "fill $_") for @p;    # 2.4 MB into a 1 MiB zone
    is(statuses($p[-1], 1), 'HIT', 'the most recent: HIT');
    is(statuses($p[-2], 1), 'HIT', 'the one before: HIT');
    is(statuses($p[0], 1), 'MISS', 'the oldest: evicted (MISS)');
    my $ev = metric('gateway_cache_evictions_total', { zone => 'small' }) - $ev0;
    ok($ev > 0, "gateway_cache_evictions_total{zone=\"small\"} grew by $ev");
    my $j = parse_json($t->admin_get('/cache/small')->{body}) // {};
    ok(($j->{bytes} // 1e9) <= 1 << 20, "the zone's bytes stay within its size ($j->{bytes})");
};

case 'compressed hits' => sub {
    my $p = '/gz/a?' . qs(cc => 'max-age=60', len => 5000);
    my $plain = get($p);
    is(xcs($plain), 'MISS', 'MISS (no Accept-Encoding)');
    my $r = get($p, ['Accept-Encoding', 'gzip']);
    is(xcs($r), 'HIT', 'HIT with Accept-Encoding: gzip');
    is($r->{headers}{'content-encoding'}, 'gzip', '... gzip-compressed');
    my $out;
    gunzip(\$r->{body} => \$out) or diag($GunzipError);
    is(md5_hex($out // ''), md5_hex($plain->{body}), '... decodes to the stored body');
    ok(length($r->{body}) < length($plain->{body}), '... smaller');
    my $id = get($p);
    is(xcs($id) . ' ' . ($id->{headers}{'content-encoding'} // 'identity'), 'HIT identity', 'a client without Accept-Encoding next: HIT, not compressed');
    is(md5_hex($id->{body}), md5_hex($plain->{body}), '... the stored body');
    like($r->{headers}{vary} // '', qr/accept-encoding/i, 'the gzip HIT says Vary: Accept-Encoding');
    is(upstream_count('/gz/a'), 1, 'one upstream request');
};

case 'survives a reload and a binary upgrade' => sub {
    my $p = '/ru/a?' . qs(cc => 'max-age=600');
    is(statuses($p, 2), 'MISS HIT', 'stored');
    my $gen = ($t->status_json // {})->{generation} // 0;
    my $master = $t->pid;
    my @old = map { $_->{pid} } $t->workers;
    $t->signal('HUP');
    ok(wait_until(sub { (($t->status_json // {})->{generation} // 0) > $gen }, 10), 'HUP: a new generation');
    ok(wait_until(sub { !grep { proc_alive($_) } @old }, 10), 'the old workers are gone');
    my $r = get($p);
    is(xcs($r), 'HIT', 'after the reload: HIT');
    is(nth($r), 1, '... the same object');

    my $pidfile = $t->pid_file;
    kill 'USR2', $master;
    my $new;
    ok(wait_until(sub { $new = GatewayTest::read_pid($pidfile); $new && $new != $master && proc_alive($new) }, 10),
       'USR2: a new master');
    ok(wait_until(sub { my @w = grep { $_->{title} =~ /worker/ } worker_pids($new); @w == 2 }, 10), '... with 2 workers');
    kill 'QUIT', $master;
    ok($t->wait_exit(10), 'QUIT: the old master exits');
    $t->adopt_master($new);
    ok($t->wait_ready(10), 'the new master is ready');
    $r = get($p);
    is(xcs($r), 'HIT', 'after the upgrade: HIT from the new generation');
    is(nth($r), 1, '... the same object');
    is(upstream_count('/ru/a'), 1, 'one upstream request in all');
    like($t->error_log, qr/zone "cache\.main" adopted/, 'the zone was adopted') or diag(join "\n", grep { /cache/ } split /\n/, $t->error_log);
};

case 'metrics' => sub {
    my $m = $t->metrics // {};
    for my $st (qw(HIT MISS EXPIRED STALE UPDATING REVALIDATED BYPASS)) {
        ok((metric_sum($m, 'gateway_cache_requests_total', { cache_status => $st }) // 0) > 0,
           "gateway_cache_requests_total{cache_status=\"$st\"} counted");
    }
    ok((metric_sum($m, $_) // 0) > 0, "$_ counted") for qw(gateway_cache_stored_total gateway_cache_stored_bytes_total
                                                         gateway_cache_served_bytes_total gateway_cache_coalesced_total);
    my $objects;
    ok(wait_until(sub {
        my $j = parse_json(($t->admin_get('/cache/main') // {})->{body} // '') // {};
        $objects = $j->{objects};
        defined $objects && (metric_sum($t->metrics // {}, 'gateway_cache_objects', { zone => 'main' }) // -1) == $objects;
    }, 5, 0.1), "gateway_cache_objects{zone=\"main\"} is /cache/main's count ($objects)");
};

case 'configuration errors at FILE:LINE:COL' => sub {
    my @cases = (
        ['cache: {zones: {main: {size: 8m}}}', '{zone: mainn}', qr/bad\.conf:7:\d+: .*zone.*unknown cache zone "mainn" \(did you mean "main"\?\)/, 'an unknown zone'],
        ['cache: {zones: {main: {size: 8m}}}', '{zone: main, key: [method, bogus]}', qr/bad\.conf:7:\d+: .*key\[1\].*"bogus" is not a key part/, 'a bad key part'],
        ['cache: {zones: {main: {size: 8m}}}', '{zone: main, methods: [GET, POST]}', qr/bad\.conf:7:\d+: .*methods\[1\].*"POST": only GET and HEAD/, 'methods [POST]'],
        ['cache: {zones: {main: {size: 8m, max_object: 3m}}}', '{zone: main}', qr/bad\.conf:5:\d+: .*max_object.*at most a quarter/, 'max_object > size/4'],
        ['cache: {zones: {main: {max_object: 1m}}}', '{zone: main}', qr/bad\.conf:5:\d+: .*size/, 'a missing size'],
    );
    for my $c (@cases) {
        my ($top, $route, $re, $what) = @$c;
        my $bad = $t->write_conf(<<"CONF", 'bad.conf');
listeners:
  - address: 127.0.0.1:%%http%%
upstreams:
  be: {servers: [{address: 127.0.0.1:%%be%%}]}
$top
routes:
  - {name: all, match: {path_prefix: /}, upstream: be, cache: $route}
CONF
        my $e = $t->run('-t', '-p', $t->dir, '-c', $bad);
        isnt($e->{exit}, 0, "$what: gatewayd -t refuses it");
        like($e->{out}, $re, "$what: at its FILE:LINE:COL") or diag($e->{out});
    }
    my $ok = $t->run('-t', '-p', $t->dir, '-c', $t->conf);
    is($ok->{exit}, 0, 'the test\'s own configuration passes -t') or diag($ok->{out});
};

diag(sprintf('t/64-cache.t ran in %.1f s', time - $T0));
done_testing;
