#!/usr/bin/perl
# OCSP stapling fetched by the master (issue 14): `ocsp_staple: {fetch: true}` with a real OCSP
# responder the test runs (`openssl ocsp -index ... -port N`, logging every request with -text, so
# the test counts the requests for each certificate).
#   1. -t: a certificate with no responder (no AIA, no responder:) is a warning at FILE:LINE:COL of
#      its ocsp_staple and passes; -T dumps fetch/responder and the dump loads again;
#   2. s_client -status gets a good staple from the first handshake after start (the master's first
#      round, before the workers fork): the certificate's AIA responder, and `responder:` over a
#      dead AIA; a revoked certificate's response is never stapled (the handshake goes on);
#      gateway_tls_ocsp_fetches_total counts ok and revoked;
#   3. after a reload (HUP) and after `gatewayd -s upgrade` the staple is still there, and the
#      responder was not asked again (the zone kept a valid response);
#   4. the responder down at start: handshakes succeed unstapled, failures are counted and
#      logged; once the responder is up again a staple appears without a reload (the retry).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use GatewayTest;
use TestCerts;

my $t = GatewayTest->new;
require_modules('tls');
plan skip_all => 'the openssl command is not installed' unless system('openssl version >/dev/null 2>&1') == 0;

my $dir = $t->dir;
my $certs = TestCerts->new($dir);
sub openssl { $certs->openssl(shift) }    # in $dir; a failure ends the test
my $ec = $TestCerts::EC;
my $ocsp_port = free_port();
my $dead_port = free_port();   # nothing listens there: a dead AIA responder

# A server CA, a responder it delegated to, and certificates it issued (each file: the leaf,
# then the CA): leaf and revoked name the responder in their AIA, other names a dead one (its
# listener gives responder:), noaia names none.
openssl("req -x509 $ec -keyout sca.key -out sca.pem -days 30 -subj /CN=ServerCA "
        . "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
spew("$dir/responder.ext", "extendedKeyUsage=OCSPSigning\n");
openssl("req $ec -keyout responder.key -out responder.csr -subj /CN=Responder");
openssl("x509 -req -in responder.csr -CA sca.pem -CAkey sca.key -CAcreateserial -days 30 -extfile responder.ext -out responder.pem");
my %aia = (leaf => $ocsp_port, revoked => $ocsp_port, other => $dead_port, noaia => undef);
my %serial;
for my $name (sort keys %aia) {
    my $ext = "subjectAltName=DNS:$name.example\n";
    $ext .= "authorityInfoAccess=OCSP;URI:http://127.0.0.1:$aia{$name}/\n" if $aia{$name};
    spew("$dir/$name.ext", $ext);
    openssl("req $ec -keyout $name.key -out $name.csr -subj /CN=$name.example");
    openssl("x509 -req -in $name.csr -CA sca.pem -CAkey sca.key -CAcreateserial -days 30 -extfile $name.ext -out $name-only.pem");
    spew("$dir/$name.pem", slurp("$dir/$name-only.pem") . slurp("$dir/sca.pem"));
    ($serial{$name} = `openssl x509 -in '$dir/$name-only.pem' -noout -serial`) =~ s/^serial=|\s+$//g;
}
my $end = `date -u -d '+30 days' +%y%m%d%H%M%SZ` =~ s/\s+$//r;
my $now = `date -u +%y%m%d%H%M%SZ` =~ s/\s+$//r;
spew("$dir/index.txt", join '',
     (map { "V\t$end\t\t$serial{$_}\tunknown\t/CN=$_.example\n" } qw(leaf other noaia)),
     "R\t$end\t$now,keyCompromise\t$serial{revoked}\tunknown\t/CN=revoked.example\n");

# --- the responder -------------------------------------------------------------------------
my $responder_pid;
my $responder_log = "$dir/responder.log";
my $starts = 0;
sub start_responder {
    $responder_pid = fork // die "fork: $!";
    if ($responder_pid == 0) {
        chdir $dir or POSIX::_exit(126);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $responder_log or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        { exec 'openssl', 'ocsp', '-index', 'index.txt', '-port', $ocsp_port, '-rsigner', 'responder.pem',
              '-rkey', 'responder.key', '-CA', 'sca.pem', '-text', '-ndays', '1' }
        POSIX::_exit(127);
    }
    # It says so once it listens (a probe connection would be a request it logs as an error).
    wait_until(sub { my @w = (slurp($responder_log) // '') =~ /waiting for OCSP client connections/gi; @w > $starts }, 10)
        or BAIL_OUT('the OCSP responder did not start: ' . (slurp($responder_log) // ''));
    $starts++;
}
sub stop_responder {
    return unless $responder_pid;
    local $?;    # its wait status is not the test's
    kill 'TERM', $responder_pid;
    waitpid($responder_pid, 0);
    $responder_pid = undef;
}
END { stop_responder() }
# Requests the responder answered about a certificate (each is logged with -text).
sub requests_for {
    my ($name) = @_;
    my $log = slurp($responder_log) // '';
    return scalar grep { /Serial Number: \Q$serial{$name}\E/ } split /OCSP Request Data:/, $log;
}

# s_client -status: "handshake staple SERIAL STATUS", "handshake no staple", ...
sub status {
    my ($port, $sni) = @_;
    my $o = `echo | timeout 10 openssl s_client -connect 127.0.0.1:$port -servername $sni -status 2>&1`;
    return ($o =~ /^(New|Reused), TLS/m ? 'handshake ' : 'no handshake ')
        . ($o =~ /OCSP response: no response sent/ ? 'no staple'
           : $o =~ /OCSP Response Status: successful.*?Serial Number: ([0-9A-F]+).*?Cert Status: (\w+)/s ? "staple $1 $2"
           : "? $o");
}

my $conf_text = <<'CONF';
worker_processes: 2
pid: logs/gatewayd.pid
error_log: {path: logs/error.log, level: info}
listeners:
  - address: 127.0.0.1:%%aia%%
    tls:
      certificates: [{cert: leaf.pem, key: leaf.key}]
      ocsp_staple: {fetch: true}
  - address: 127.0.0.1:%%more%%
    tls:
      certificates:
        - {cert: revoked.pem, key: revoked.key, ocsp_staple: {fetch: true}}
        - {cert: other.pem, key: other.key, ocsp_staple: {fetch: true, responder: "http://127.0.0.1:%%ocsp%%/"}}
        - {cert: noaia.pem, key: noaia.key, ocsp_staple: {fetch: true}}
  - {address: 127.0.0.1:%%admin%%, admin: true}
routes:
  - name: ok
    match: {path_prefix: /}
    return: {status: 200, body: "ok\n"}
CONF
$t->set_port('ocsp', $ocsp_port);
my $conf = $t->write_conf($conf_text);
my %port = map { $_ => $t->port($_) } qw(aia more);

# --- 1. -t and -T ------------------------------------------------------------------------------
{
    my $r = $t->run('-t', '-p', $dir, '-c', $conf);
    is($r->{exit}, 0, '-t: a certificate without a responder does not fail the configuration') or diag($r->{out});
    my @lines = split /\n/, slurp($conf);
    my ($line) = grep { $lines[$_] =~ /noaia\.pem/ } 0 .. $#lines;
    my $col = index($lines[$line], '{fetch: true}') + 1;
    my @warnings = grep { /ocsp_staple/ } split /\n/, $r->{out};
    note($_) for @warnings;
    like($r->{out}, qr/^gatewayd: \[warn\] \Q$conf:@{[$line + 1]}:$col\E: warning: listeners\[1\]\.tls\.certificates\[2\]\.ocsp_staple: "[^"]*noaia\.pem" names no OCSP responder .*: nothing is stapled$/m,
         '-t: no AIA and no responder: a warning at FILE:LINE:COL of its ocsp_staple');
    is(scalar(@warnings), 1, '... the only warning about staples') or diag(join "\n", @warnings);

    my $d = $t->run('-T', '-p', $dir, '-c', $conf);
    is($d->{exit}, 0, '-T');
    like($d->{stdout}, qr/^      ocsp_staple:\n        fetch: true\n/m, '-T: the listener\'s ocsp_staple: {fetch: true}');
    like($d->{stdout}, qr/^\s+ocsp_staple:\n\s+fetch: true\n\s+responder: "http:\/\/127\.0\.0\.1:$ocsp_port\/"\n/m,
         '-T: an entry\'s fetch with its responder');
    spew("$dir/dumped.conf", $d->{stdout});
    my $again = $t->run('-t', '-p', $dir, '-c', "$dir/dumped.conf");
    is($again->{exit}, 0, '-T: the dump loads again') or diag($again->{out});
}

# --- 2. stapled from the first handshake -------------------------------------------------------
start_responder();
$t->start;
is(status($port{aia}, 'leaf.example'), "handshake staple $serial{leaf} good",
   'the first handshake after start gets the staple (the certificate\'s AIA responder)');
{
    my $log = $t->error_log;
    my $fetched = $log =~ /OCSP response for leaf\.example fetched and stapled/ ? $-[0] : -1;
    my $forked = $log =~ /started worker process/ ? $-[0] : -1;
    ok($fetched >= 0 && $forked > $fetched, '... fetched before the first worker was started')
        or diag("fetched at $fetched, first worker at $forked");
}
is(status($port{more}, 'other.example'), "handshake staple $serial{other} good",
   '... and one from responder:, where the AIA is dead');
is(status($port{more}, 'revoked.example'), 'handshake no staple', 'a revoked certificate: no staple, the handshake goes on');
is(status($port{more}, 'noaia.example'), 'handshake no staple', 'no responder: no staple');
my $fetches = sub {
    my ($name, $result) = @_;
    my $m = $t->metrics or return -1;
    return metric_sum($m, 'gateway_tls_ocsp_fetches_total', { name => "$name.example", result => $result }) // 0;
};
is($fetches->('leaf', 'ok'), 1, 'gateway_tls_ocsp_fetches_total{result="ok"}: one fetch for the leaf');
ok($fetches->('revoked', 'revoked') >= 1, '... {result="revoked"} for the revoked certificate');
like($t->error_log, qr/\[warn\].*OCSP stapling for revoked\.example: the OCSP response says the certificate was revoked/,
     '... logged');
is(requests_for('leaf'), 1, 'the responder was asked once about the leaf');

# --- 3. kept across a reload and a binary upgrade ---------------------------------------------
{
    $t->write_conf($conf_text . "# reloaded\n");
    my $gen0 = $t->status_json->{generation};
    $t->signal('HUP');
    ok(wait_until(sub { my $s = $t->status_json; $s && $s->{generation} > $gen0
                            && !grep { $_->{generation} == $gen0 } @{ $s->{workers} } }, 10),
       'reloaded: the new generation serves alone');
    is(status($port{aia}, 'leaf.example'), "handshake staple $serial{leaf} good", 'after a reload: stapled');
    is(requests_for('leaf'), 1, '... without asking the responder again');

    my $r = $t->run({ timeout => 20 }, '-p', $dir, '-c', $conf, '-s', 'upgrade');
    is($r->{exit}, 0, 'gatewayd -s upgrade') or diag($r->{out});
    my ($new) = $r->{out} =~ /done: master (\d+) serves/;
    $t->adopt_master($new) if $new;
    like($t->error_log, qr/shared memory zone "tls-ocsp" adopted from the previous binary, with its OCSP staples/,
         'the staple zone was adopted');
    is(status($port{aia}, 'leaf.example'), "handshake staple $serial{leaf} good", 'after a binary upgrade: stapled');
    is(requests_for('leaf'), 1, '... without asking the responder again');
    $t->stop;
}

# --- 4. the responder down at start, then up: the retry ---------------------------------------
{
    stop_responder();
    my $g = GatewayTest->new;
    $g->set_port('ocsp', $ocsp_port);
    system("cp '$dir'/*.pem '$dir'/*.key '$g->{dir}'/") == 0 or BAIL_OUT('cp');
    $g->write_conf($conf_text);
    $g->start;
    my $p = $g->port('aia');
    is(status($p, 'leaf.example'), 'handshake no staple', 'the responder down at start: handshakes succeed unstapled');
    ok(wait_until(sub { my $m = $g->metrics; $m && (metric_sum($m, 'gateway_tls_ocsp_fetches_total',
                                                                 { name => 'leaf.example', result => 'failed' }) // 0) >= 1 }, 5),
       '... the failure is counted');
    like($g->error_log, qr/\[warn\].*OCSP stapling for leaf\.example: no answer from http:\/\/127\.0\.0\.1:$ocsp_port\//,
         '... and logged');
    start_responder();
    ok(wait_until(sub { status($p, 'leaf.example') eq "handshake staple $serial{leaf} good" }, 20),
       'the responder up again: a staple appears without a reload');
    $g->stop;
}

done_testing;
