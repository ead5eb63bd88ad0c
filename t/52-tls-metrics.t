#!/usr/bin/perl
# TLS metrics, OCSP stapling and the client certificate upstream (issue 14, phase 2): the real
# binary with TLS listeners, real clients (curl, openssl s_client), certificates, CAs and OCSP
# responses made by the openssl command.
#   1. gateway_tls_handshakes_total: ok by protocol (TLS 1.3, TLS 1.2); failed, with
#      gateway_tls_handshake_errors_total by reason: a TLS 1.1 client (protocol_version), no
#      client certificate where one is required (no_client_certificate), one from another CA
#      (unknown_ca), plain HTTP on the TLS port (http_request), a client that sends nothing
#      (timeout); one info line per failure naming the client, the listener and the reason;
#   2. gateway_tls_resumed_total by kind: tickets (TLS 1.3 and 1.2) and the session cache (TLS 1.2
#      with a session id, TLS 1.3 on a listener without tickets), on one worker;
#   3. gateway_tls_certificate_expiry_timestamp_seconds: each certificate's notAfter, and a
#      renewed certificate's after a reload;
#   4. $ssl_client_escaped_cert and $ssl_client_verify in a request header to the backend: the
#      URL-decoded value is the client's PEM; a client's own field never passes; nothing without
#      a verified certificate; SUCCESS / NONE / FAILED:reason;
#   5. OCSP stapling from a file (responses made by openssl ocsp): -t warns at FILE:LINE:COL about
#      each response that cannot be stapled and passes; s_client -status gets the listener's
#      staple for the first certificate and an entry's own for another, none where the response
#      was refused (the handshake goes on); a file refreshed and reloaded is stapled.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time);
use Time::Local qw(timegm);
use GatewayTest;
use TestCerts;
use Backend;

my $t = GatewayTest->new;
require_modules('tls');
plan skip_all => 'the openssl command is not installed' unless system('openssl version >/dev/null 2>&1') == 0;
plan skip_all => 'curl is not installed' unless system('curl --version >/dev/null 2>&1') == 0;

my $dir = $t->dir;
my $certs = TestCerts->new($dir);
sub openssl { $certs->openssl(shift) }    # in $dir; a failure ends the test
my $ec = $TestCerts::EC;
my $rsa = '-newkey rsa:2048 -nodes';
openssl("req -x509 $ec -keyout api.key -out api.pem -days 30 -subj /CN=api.example "
        . "-addext subjectAltName=DNS:api.example,DNS:*.api.example");
openssl("req -x509 $rsa -keyout www.key -out www.pem -days 45 -subj /CN=www.example "
        . "-addext subjectAltName=DNS:www.example");
# The clients' CA, a client it signed, and a client of another CA.
openssl("req -x509 $ec -keyout ca.key -out ca.pem -days 30 -subj /CN=Clients");
openssl("req $ec -keyout client.key -out client.csr -subj /CN=alice/O=Ops");
openssl("x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -out client.pem");
openssl("req -x509 $ec -keyout other-ca.key -out other-ca.pem -days 30 -subj /CN=Others");
openssl("req $ec -keyout mallory.key -out mallory.csr -subj /CN=mallory");
openssl("x509 -req -in mallory.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial -days 30 -out mallory.pem");

my $backend = Backend->new(name => 'a')->start;
$t->set_port('be', $backend->port);
$t->write_conf(<<'CONF');
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
listeners:
  - address: 127.0.0.1:%%https%%
    tls:
      certificates:
        - {cert: api.pem, key: api.key}
        - {cert: www.pem, key: www.key}
      client_auth: {ca: ca.pem, mode: optional}
      handshake_timeout: 1s
  - address: 127.0.0.1:%%mtls%%
    tls:
      certificates: [{cert: api.pem, key: api.key}]
      client_auth: {ca: ca.pem, mode: require}
  - address: 127.0.0.1:%%notickets%%
    tls:
      certificates: [{cert: api.pem, key: api.key}]
      session_tickets: off
  - {address: 127.0.0.1:%%admin%%, admin: true}
upstreams:
  app: {servers: [{address: 127.0.0.1:%%be%%}]}
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
    request_headers:
      set: {X-Client-Cert: $ssl_client_escaped_cert, X-Client-Verify: $ssl_client_verify}
CONF
$t->start;
my ($https, $mtls, $notickets) = map { $t->port($_) } qw(https mtls notickets);
my %listener = (https => "127.0.0.1:$https", mtls => "127.0.0.1:$mtls", notickets => "127.0.0.1:$notickets");

my $n = 0;
sub curl {
    my ($port, $name, $path, @opts) = @_;
    my $out = $t->path('body' . ++$n);
    my $hdr = $t->path('head' . $n);
    my $cmd = join ' ', 'curl -sk --max-time 10 -o', "'$out'", '-D', "'$hdr'",
        '--resolve', "$name:$port:127.0.0.1", @opts, "'https://$name:$port$path'";
    my $rc = system($cmd) >> 8;
    my $h = slurp($hdr) // '';
    my ($status) = ($h =~ m{^HTTP/\S+ (\d+)}mg)[-1];
    return ($status // 0, $h, $out, $rc);
}

sub s_client {
    my ($port, $opts, $input) = @_;
    my $in = $t->path('s_client.in');
    spew($in, $input // '');
    return scalar `timeout 10 openssl s_client -connect 127.0.0.1:$port $opts <'$in' 2>&1`;
}

# The value of one series (0 when it is absent), from a fresh scrape.
sub metric {
    my ($name, %labels) = @_;
    my $m = $t->metrics or return undef;
    return metric_sum($m, $name, \%labels) // 0;
}
sub handshakes { my ($l, $result, $proto) = @_; metric('gateway_tls_handshakes_total', listener => $listener{$l}, result => $result, protocol => $proto) }
sub errors { my ($l, $reason) = @_; metric('gateway_tls_handshake_errors_total', listener => $listener{$l}, reason => $reason) }
sub resumed { my ($l, $kind) = @_; metric('gateway_tls_resumed_total', listener => $listener{$l}, kind => $kind) }

# Runs $action, then waits until $get->() is $before + $delta (the server counts a moment after
# the client is done); returns the value seen last.
sub after {
    my ($get, $delta, $action) = @_;
    my $before = $get->();
    $action->();
    my $now;
    wait_until(sub { $now = $get->(); $now == $before + $delta }, 5);
    return $now - $before;
}

sub log_count {
    my ($re) = @_;
    return scalar(() = $t->error_log =~ /$re/g);
}

# --- 0. every series exists from the start ---------------------------------------------------------
{
    my $m = $t->metrics;
    is($m->{types}{gateway_tls_handshakes_total}, 'counter', 'gateway_tls_handshakes_total is a counter');
    is($m->{types}{gateway_tls_resumed_total}, 'counter', 'gateway_tls_resumed_total is a counter');
    is($m->{types}{gateway_tls_handshake_errors_total}, 'counter', 'gateway_tls_handshake_errors_total is a counter');
    is($m->{types}{gateway_tls_certificate_expiry_timestamp_seconds}, 'gauge', 'the expiry is a gauge');
    my @reasons = sort map { $_->{labels}{reason} }
        metric_samples($m, 'gateway_tls_handshake_errors_total', { listener => $listener{https} });
    is_deeply(\@reasons, [sort qw(timeout eof http_request protocol_version no_shared_cipher no_client_certificate
                                  unknown_ca bad_certificate no_application_protocol peer_alert other)],
              'every reason of a listener is a series before any handshake (a fixed set)');
    my @protocols = sort map { "$_->{labels}{result}/$_->{labels}{protocol}" }
        metric_samples($m, 'gateway_tls_handshakes_total', { listener => $listener{https} });
    is_deeply(\@protocols, [sort qw(ok/TLSv1.2 ok/TLSv1.3 failed/TLSv1.2 failed/TLSv1.3 failed/unknown)],
              '... and every result/protocol of the handshakes');
    is(scalar(@{ $m->{bad} }), 0, 'the scrape parses') or diag(join "\n", @{ $m->{bad} });
}

# --- 1. handshakes by result and protocol; errors by reason ------------------------------------------
{
    is(after(sub { handshakes('https', 'ok', 'TLSv1.3') }, 1, sub { curl($https, 'api.example', '/echo/a') }),
       1, 'a TLS 1.3 request: ok/TLSv1.3 + 1');
    is(after(sub { handshakes('https', 'ok', 'TLSv1.2') }, 1,
             sub { curl($https, 'api.example', '/echo/b', '--tls-max 1.2') }),
       1, 'a TLS 1.2 request: ok/TLSv1.2 + 1');

    my $failed = qr/client 127\.0\.0\.1 on 127\.0\.0\.1:$https: TLS handshake failed: protocol_version \(.+\); closing/;
    my $lines = log_count($failed);
    is(after(sub { errors('https', 'protocol_version') }, 1,
             sub { s_client($https, "-servername api.example -tls1_1 -cipher 'DEFAULT:\@SECLEVEL=0'") }),
       1, 'a TLS 1.1 client: reason protocol_version + 1');
    ok(wait_until(sub { log_count($failed) > $lines }, 5),
       '... one info line with the client, the listener, the reason and OpenSSL\'s words');
    unlike($t->error_log, qr/\] TLS handshake failed/, '... and no second line without the client');
    is(handshakes('https', 'ok', 'TLSv1.1'), 0, '... never counted as ok');

    my $before = handshakes('mtls', 'failed', 'TLSv1.3');
    is(after(sub { errors('mtls', 'no_client_certificate') }, 1, sub { curl($mtls, 'api.example', '/echo/c') }),
       1, 'client_auth require, no client certificate: no_client_certificate + 1');
    is(handshakes('mtls', 'failed', 'TLSv1.3') - $before, 1, '... a failed TLS 1.3 handshake');
    is(after(sub { errors('mtls', 'unknown_ca') }, 1,
             sub { curl($mtls, 'api.example', '/echo/d', "--cert '$dir/mallory.pem'", "--key '$dir/mallory.key'") }),
       1, '... a certificate of another CA: unknown_ca + 1');
    is(after(sub { handshakes('mtls', 'ok', 'TLSv1.3') }, 1,
             sub { curl($mtls, 'api.example', '/echo/e', "--cert '$dir/client.pem'", "--key '$dir/client.key'") }),
       1, '... the CA\'s client: ok + 1');

    $failed = qr/client 127\.0\.0\.1 on 127\.0\.0\.1:$https: TLS handshake failed: http_request/;
    $lines = log_count($failed);
    is(after(sub { errors('https', 'http_request') }, 1, sub { http_get($https, '/plain') }),
       1, 'plain HTTP on the TLS port: http_request + 1');
    ok(wait_until(sub { log_count($failed) > $lines }, 5), '... logged with its reason');
    is(errors('https', 'other'), 0, 'nothing so far was "other"');

    is(after(sub { errors('https', 'timeout') }, 1, sub {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $https, Timeout => 5) or die "connect: $!";
        my $sel = IO::Select->new($s);
        my $start = time;
        while (time - $start < 5) { last if $sel->can_read(0.1) }
        close $s;
    }), 1, 'a client that sends nothing for handshake_timeout: timeout + 1');
    is(errors('https', 'eof'), 0, '... not counted as eof too');
}

# --- 2. resumption: ticket or cache ------------------------------------------------------------------
{
    my $req = "GET /echo/r HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\r\n";
    my $resume = sub {
        my ($port, $opts) = @_;
        my $sess = $t->path('sess' . ++$n);
        my $o1 = s_client($port, "-servername api.example -ign_eof $opts -sess_out '$sess'", $req);
        my $o2 = s_client($port, "-servername api.example -ign_eof $opts -sess_in '$sess'", $req);
        return $o2 =~ /^Reused, /m ? 1 : 0;
    };
    for my $case (['TLS 1.3 with tickets', $https, '-tls1_3', 'ticket'],
                  ['TLS 1.2 with a ticket', $https, '-tls1_2', 'ticket'],
                  ['TLS 1.2 with a session id (-no_ticket)', $https, '-tls1_2 -no_ticket', 'cache'],
                  ['TLS 1.3 on a listener without tickets', $notickets, '-tls1_3', 'cache'],
                  ['TLS 1.2 on a listener without tickets', $notickets, '-tls1_2', 'cache']) {
        my ($what, $port, $opts, $kind) = @$case;
        my $l = $port == $https ? 'https' : 'notickets';
        my $other = $kind eq 'ticket' ? 'cache' : 'ticket';
        my $other_before = resumed($l, $other);
        my $reused;
        is(after(sub { resumed($l, $kind) }, 1, sub { $reused = $resume->($port, $opts) }), 1,
           "$what: resumed/$kind + 1");
        ok($reused, '... s_client says Reused');
        is(resumed($l, $other), $other_before, "... resumed/$other unchanged");
    }
}

# --- 3. certificate expiry ---------------------------------------------------------------------------
{
    my %mon;
    @mon{qw(Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec)} = (0 .. 11);
    my $not_after = sub {
        my $end = `openssl x509 -in '$dir/$_[0]' -noout -enddate`;
        my ($mo, $d, $h, $mi, $s, $y) = $end =~ /notAfter=(\w{3})\s+(\d+) (\d+):(\d+):(\d+) (\d{4}) GMT/
            or BAIL_OUT("enddate: $end");
        return timegm($s, $mi, $h, $d, $mon{$mo}, $y);
    };
    my $expiry = sub { metric('gateway_tls_certificate_expiry_timestamp_seconds', listener => $listener{https}, name => $_[0]) };
    for my $c (['api.pem', 'api.example'], ['www.pem', 'www.example']) {
        my ($file, $name) = @$c;
        is($expiry->($name), $not_after->($file), "the expiry gauge of $name is its notAfter");
    }

    # Renewed (the same key, 90 days) and reloaded: the new workers set the gauge.
    my $old = $not_after->('www.pem');
    openssl("req -x509 -key www.key -out www.pem -days 90 -subj /CN=www.example -addext subjectAltName=DNS:www.example");
    my $new = $not_after->('www.pem');
    cmp_ok($new, '>', $old, '(the renewed certificate expires later)');
    $t->signal('HUP');
    ok(wait_until(sub { ($expiry->('www.example') // 0) == $new }, 10), '... after a reload the gauge is the new notAfter')
        or diag('gauge ' . ($expiry->('www.example') // 'none') . ", want $new");
    is($expiry->('api.example'), $not_after->('api.pem'), '... and the other certificate\'s is unchanged');
    is(metric('gateway_tls_certificate_expiry_timestamp_seconds', listener => $listener{mtls}, name => 'api.example'),
       metric('gateway_tls_certificate_expiry_timestamp_seconds', listener => $listener{https}, name => 'api.example'),
       '... one series per listener');
}

# --- 4. the client certificate upstream ------------------------------------------------------------------
{
    my $pem = slurp("$dir/client.pem");
    my ($st, undef, $f) = curl($https, 'api.example', '/echo/cert', "--cert '$dir/client.pem'",
                               "--key '$dir/client.key'", "-H 'X-Client-Cert: forged'");
    is($st, 200, 'a request with a verified client certificate');
    my $j = parse_json(slurp($f));
    my @certs = echo_hdrs($j, 'x-client-cert');
    is(scalar(@certs), 1, '... the backend gets one X-Client-Cert (the client\'s own is not passed)');
    unlike($certs[0] // '', qr/[^A-Za-z0-9%._~-]/, '... URL-escaped: unreserved characters and %XX only');
    (my $decoded = $certs[0] // '') =~ s/%([0-9A-F]{2})/chr hex $1/ge;
    is($decoded, $pem, '... which decodes to the client certificate\'s PEM');
    is(echo_hdr($j, 'x-client-verify'), 'SUCCESS', '... X-Client-Verify: SUCCESS');

    ($st, undef, $f) = curl($https, 'api.example', '/echo/nocert', "-H 'X-Client-Cert: forged'");
    $j = parse_json(slurp($f));
    is($st, 200, 'no client certificate (client_auth optional)');
    is(scalar(echo_hdrs($j, 'x-client-cert')), 0, '... no X-Client-Cert at all: not the client\'s');
    is(echo_hdr($j, 'x-client-verify'), 'NONE', '... X-Client-Verify: NONE');

    ($st, undef, $f) = curl($https, 'api.example', '/echo/mallory', "--cert '$dir/mallory.pem'",
                            "--key '$dir/mallory.key'", "-H 'X-Client-Cert: forged'");
    $j = parse_json(slurp($f));
    is($st, 200, 'a certificate of another CA (optional lets it in)');
    is(scalar(echo_hdrs($j, 'x-client-cert')), 0, '... not forwarded: it did not verify');
    like(echo_hdr($j, 'x-client-verify') // '', qr/^FAILED:unable to (get local issuer|verify the first) certificate/,
         '... X-Client-Verify: FAILED:reason');

    my $p = http_get($t->port('admin'), '/metrics');
    ok($p && $p->{status} == 200, '(the admin listener still answers)');
}

$t->stop;

# --- 5. OCSP stapling from a file --------------------------------------------------------------------
{
    my $g = GatewayTest->new;
    my $gd = $g->dir;
    my $ossl = sub {
        my $cmd = shift;
        system("cd '$gd' && openssl $cmd >/dev/null 2>&1") == 0 or BAIL_OUT("openssl $cmd failed");
    };
    # A server CA, two certificates it issued (each file: the leaf, then the CA), an OCSP responder
    # it delegated to, and a rogue responder it did not.
    $ossl->("req -x509 $ec -keyout sca.key -out sca.pem -days 30 -subj /CN=ServerCA "
            . "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
    spew("$gd/responder.ext", "extendedKeyUsage=OCSPSigning\n");
    for my $name (qw(leaf other)) {
        spew("$gd/$name.ext", "subjectAltName=DNS:$name.example\n");
        $ossl->("req $ec -keyout $name.key -out $name.csr -subj /CN=$name.example");
        $ossl->("x509 -req -in $name.csr -CA sca.pem -CAkey sca.key -CAcreateserial -days 30 -extfile $name.ext "
                . "-out $name-only.pem");
        spew("$gd/$name.pem", slurp("$gd/$name-only.pem") . slurp("$gd/sca.pem"));
    }
    $ossl->("req $ec -keyout responder.key -out responder.csr -subj /CN=Responder");
    $ossl->("x509 -req -in responder.csr -CA sca.pem -CAkey sca.key -CAcreateserial -days 30 "
            . "-extfile responder.ext -out responder.pem");
    $ossl->("req -x509 $ec -keyout rogue.key -out rogue.pem -days 30 -subj /CN=Rogue -addext extendedKeyUsage=OCSPSigning");
    $ossl->("req -x509 $ec -keyout self.key -out self.pem -days 30 -subj /CN=self.example");
    # The CA's database: both good, then the leaf revoked.
    my $end = `date -u -d '+30 days' +%y%m%d%H%M%SZ`;
    chomp $end;
    my %serial = map { my $s = `openssl x509 -in '$gd/$_-only.pem' -noout -serial`; $s =~ s/^serial=|\s+$//g; ($_ => $s) } qw(leaf other);
    spew("$gd/index.txt", join '', map { "V\t$end\t\t$serial{$_}\tunknown\t/CN=$_.example\n" } qw(leaf other));
    spew("$gd/revoked.txt", "R\t$end\t" . `date -u +%y%m%d%H%M%SZ` =~ s/\s+$//r . ",keyCompromise\t$serial{leaf}\tunknown\t/CN=leaf.example\n");
    my $respond = sub {
        my ($index, $signer, $cert, $out) = @_;
        $ossl->("ocsp -index $index -rsigner $signer.pem -rkey $signer.key -CA sca.pem -issuer sca.pem "
                . "-cert $cert-only.pem -respout $out -ndays 7");
    };
    $respond->('index.txt', 'responder', 'leaf', 'leaf.ocsp');
    $respond->('index.txt', 'responder', 'other', 'other.ocsp');
    $respond->('revoked.txt', 'responder', 'leaf', 'revoked.ocsp');
    $respond->('index.txt', 'rogue', 'leaf', 'rogue.ocsp');
    spew("$gd/garbage.ocsp", "not an OCSP response\n");

    my $conf_text = <<'CONF';
worker_processes: 1
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
listeners:
  - address: 127.0.0.1:%%good%%
    tls:
      certificates:
        - {cert: leaf.pem, key: leaf.key}
        - {cert: other.pem, key: other.key, ocsp_staple: other.ocsp}
      ocsp_staple: leaf.ocsp
  - address: 127.0.0.1:%%bad%%
    tls:
      certificates:
        - {cert: leaf.pem, key: leaf.key, ocsp_staple: revoked.ocsp}
        - {cert: other.pem, key: other.key, ocsp_staple: leaf.ocsp}
      ocsp_staple: leaf.ocsp
  - address: 127.0.0.1:%%rogue%%
    tls:
      certificates: [{cert: leaf.pem, key: leaf.key, ocsp_staple: rogue.ocsp}]
  - address: 127.0.0.1:%%garbage%%
    tls:
      certificates: [{cert: leaf.pem, key: leaf.key}]
      ocsp_staple: garbage.ocsp
  - address: 127.0.0.1:%%self%%
    tls:
      certificates: [{cert: self.pem, key: self.key}]
      ocsp_staple: leaf.ocsp
  - {address: 127.0.0.1:%%admin%%, admin: true}
routes:
  - name: ok
    match: {path_prefix: /}
    return: {status: 200, body: "ok\n"}
CONF
    my $conf = $g->write_conf($conf_text);
    # FILE:LINE:COL of the $nth (from 1) occurrence of $needle in the configuration.
    my $at = sub {
        my ($needle, $nth) = @_;
        my @lines = split /\n/, $conf_text;
        for my $i (0 .. $#lines) {
            my $col = index($lines[$i], $needle);
            next if $col < 0;
            return "$conf:" . ($i + 1) . ':' . ($col + 1) unless --$nth;
        }
        return 'not found';
    };

    my $r = $g->run('-t', '-p', $gd, '-c', $conf);
    is($r->{exit}, 0, '-t: staples that cannot be used do not fail the configuration') or diag($r->{out});
    my @warnings = grep { /\bocsp_staple\b/ } split /\n/, $r->{out};
    note($_) for @warnings;
    my %want = (
        'a revoked certificate' => [$at->('revoked.ocsp', 1), 'listeners\[1\]\.tls\.certificates\[0\]\.ocsp_staple', 'revoked\.ocsp', 'the OCSP response says the certificate was revoked on .* \(keyCompromise\)'],
        'a response for another certificate' => [$at->('leaf.ocsp', 2), 'listeners\[1\]\.tls\.certificates\[1\]\.ocsp_staple', 'leaf\.ocsp', 'the OCSP response is not for the certificate "[^"]*other\.pem" \(serial [0-9A-F]+\)'],
        'the listener\'s staple where the first certificate has its own' => [$at->('leaf.ocsp', 3), 'listeners\[1\]\.tls\.ocsp_staple', undef, 'the first certificate has its own ocsp_staple \("[^"]*revoked\.ocsp"\): this one is not used'],
        'a response signed by a responder the CA did not delegate to' => [$at->('rogue.ocsp', 1), 'listeners\[2\]\.tls\.certificates\[0\]\.ocsp_staple', 'rogue\.ocsp', 'the OCSP response is not signed by the certificate\'s issuer or a responder it delegated to \(.+\)'],
        'a file that is not an OCSP response' => [$at->('garbage.ocsp', 1), 'listeners\[3\]\.tls\.ocsp_staple', 'garbage\.ocsp', 'not a DER OCSP response \(.+\)'],
        'a certificate without its issuer in the file' => [$at->('leaf.ocsp', 4), 'listeners\[4\]\.tls\.ocsp_staple', 'leaf\.ocsp', 'the certificate\'s file has no issuer certificate after it'],
    );
    for my $what (sort keys %want) {
        my ($where, $key, $file, $why) = @{ $want{$what} };
        my $re = "^gatewayd: \\[warn\\] \Q$where\E: warning: $key: " . (defined $file ? "\"[^\"]*/$file\": " : '') . $why;
        ok((grep { /$re/ } @warnings), "-t: $what: a warning at FILE:LINE:COL of its key") or diag("want $re\n" . join("\n", @warnings));
    }
    is(scalar(@warnings), scalar(keys %want), '... and no other warning about staples') or diag(join "\n", @warnings);

    $g->start;
    my $status = sub {
        my ($port, $sni) = @_;
        my $o = `echo | timeout 10 openssl s_client -connect 127.0.0.1:$port -servername $sni -status 2>&1`;
        return ($o =~ /^(New|Reused), TLS/m ? 'handshake ' : 'no handshake ')
            . ($o =~ /OCSP response: no response sent/ ? 'no staple'
               : $o =~ /OCSP Response Status: successful.*?Serial Number: ([0-9A-F]+).*?Cert Status: (\w+)/s ? "staple $1 $2"
               : "? $o");
    };
    note('good: ' . $status->($g->port('good'), 'leaf.example'));
    is($status->($g->port('good'), 'leaf.example'), "handshake staple $serial{leaf} good",
       's_client -status: the listener\'s staple for the first certificate, good');
    is($status->($g->port('good'), 'other.example'), "handshake staple $serial{other} good",
       '... an entry\'s own staple for the certificate SNI chose');
    for my $l (qw(bad rogue garbage)) {
        is($status->($g->port($l), 'leaf.example'), 'handshake no staple', "listener $l: no staple sent, the handshake goes on");
    }
    is($status->($g->port('bad'), 'other.example'), 'handshake no staple', '... nor a staple of another certificate');
    my $plain = `echo | timeout 10 openssl s_client -connect 127.0.0.1:@{[$g->port('good')]} -servername leaf.example 2>&1`;
    unlike($plain, qr/OCSP/, 'a client that does not ask gets no staple');

    # The file is read again on a reload: a good response where the garbage was is stapled.
    spew("$gd/garbage.ocsp", slurp("$gd/leaf.ocsp"));
    $g->signal('HUP');
    ok(wait_until(sub { $status->($g->port('garbage'), 'leaf.example') eq "handshake staple $serial{leaf} good" }, 10),
       'the listener\'s file refreshed, then a reload: its staple is sent');
    $g->stop;
}

done_testing;
