package Backend;

# Real HTTP/1.1 backend servers for the proxy integration tests (t/1*.t). Core Perl modules only.
#
# A backend is one listening socket (127.0.0.1:PORT, bound by the test process itself so there is
# no port race, or a unix socket) served by a forked process in its own process group; every
# accepted connection is served by a child of its own (blocking I/O with deadlines), so slow,
# streaming and WebSocket requests never hold up other connections. Every backend ever started is
# killed (its whole process group) when the test script ends.
#
#   my $b = Backend->new(name => 'a')->start;        # or unix => '/path/sock'
#   $b->port; $b->address;                            # 12345, "127.0.0.1:12345" | "unix:/path"
#   $b->stats;    # {connections, requests, closed, open, paths => [...], conns => {id => n}}
#   $b->stop;
#
# Options: name, unix => path, idle_timeout => s (close a keep-alive connection idle that long,
# default 60), close_nth => N (on the Nth and later request of a connection, close it without an
# answer: a server closing a pooled connection as the request arrives), max_requests => N (answer
# N requests on a connection, the last one with "connection: close"), handler => CODE (answers
# of the test's own, tried before the paths below: see dispatch).
#
# Behaviour per request, chosen by the path (the query string is ignored unless said):
#   /echo...          200, JSON: backend, conn, conn_req, method, target, path, query, proto,
#   (any other path)  headers [[name, value], ...] in received order, body_length, body_md5,
#                     body (when at most 4096 bytes), trailers [[name, value], ...], chunked (0|1)
#   /upload           same as /echo (the body is read streaming, never held)
#   /id               200, body: the backend's name
#   /status/NNN       status NNN, body "status NNN" (none for 1xx/204/304 and HEAD)
#   /bytes/N          N bytes of pattern(N), Content-Length
#   /download/N       as /bytes/N, written in 60 KiB pieces (for big N)
#   /chunked/N        N bytes of pattern(N), chunked in odd piece sizes (?pieces=K, default 5),
#                     trailers "x-checksum: md5(body)" and "x-trailer: done"
#   /close-delimited/N  N bytes of pattern(N), no Content-Length, then close
#   /slow-head/MS     stall MS ms before the response head (body "slow")
#   /slow-body/MS     head (Content-Length 20), 10 bytes, stall MS ms, 10 more bytes
#   /close-mid/N      head (Content-Length N), N/2 bytes, then close
#   /reset            read the request, close without a byte (?rst=1: abortive close, RST)
#   /garbage          answer "NOT-HTTP garbage\r\n\r\n", then close
#   /info             an informational response (?code=103, default 103; Link header), then
#                     200 "final"
#   /hop              200 with hop-by-hop headers: Connection: keep-alive, X-Hop; X-Hop;
#                     Keep-Alive; Proxy-Connection; plus X-Kept and X-Secret-Resp; body "hop"
#   /fail-on/NAME/NNN status NNN on backend NAME, 200 with the backend's name elsewhere
#   /slow-on/NAME/MS  stall MS ms on backend NAME; 200 with the backend's name
#   /ws               WebSocket: 101 handshake, then every data frame is echoed back (unmasked,
#                     same opcode), ping -> pong, close -> close; ?reject=1: 403 instead
#   /stats            200, JSON of $b->stats
# Hostile answers (issue 11 §1b):
#   /info-flood       103 Early Hints heads without end (until the proxy stops reading or 30 s)
#   /conn-framing     200 "hello" with Content-Length: 5 and "Connection: content-length"
#                     (?h=NAME: another header named in Connection)
#   /te/CODING        200 with "Transfer-Encoding: CODING" (e.g. gzip), body "raw", then close
#   /ws-bad           a WebSocket request answered 101 with "Upgrade: ?u=VALUE" (default empty)
#   /head-cl          200 with Content-Length: 5 and Content-Length: 6 (body "hello" unless HEAD)
#   /evil-trailers    200 chunked body "hello" with the trailers Set-Cookie, X-Forwarded-For,
#                     Content-Length and X-Ok
# Every answer has "x-backend: NAME".
#
# Test-side helpers (exported): pattern(N), pattern_md5(N), md5_hex, dead_port, blackhole_port,
# ws_handshake / ws_send / ws_recv / ws_frame (a minimal RFC 6455 client over GatewayTest::Conn).

use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(sha1);
use Errno qw(EINTR EAGAIN EWOULDBLOCK EINPROGRESS);
use Exporter qw(import);
use Fcntl qw(O_WRONLY O_APPEND O_CREAT F_GETFL F_SETFL O_NONBLOCK);
use File::Temp ();
use IO::Select;
use IO::Socket::INET;
use IO::Socket::UNIX;
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use POSIX qw(_exit setsid);
use Socket qw(SOL_SOCKET SO_LINGER SOCK_STREAM AF_INET PF_INET IPPROTO_TCP inet_aton
              pack_sockaddr_in sockaddr_in INADDR_LOOPBACK SO_REUSEADDR);
use Time::HiRes qw(time sleep);

our @EXPORT = qw(pattern pattern_md5 md5_hex dead_port blackhole_port
                 ws_handshake ws_send ws_recv ws_frame
                 build_request get_from echo_hdr echo_hdrs rss_kb conf_head);

$SIG{PIPE} = 'IGNORE';

my @BACKENDS;     # every backend started by this process
my @KEEP;         # sockets held for dead_port / blackhole_port
my $CREATOR = $$;

# ---------------------------------------------------------------------------------------------
# data pattern

my $PAT = join '', ('a' .. 'z', 'A' .. 'Z', '0' .. '8');    # 61 bytes: a prime period
my $PAT_BLOCK = $PAT x 1024;                                # 62464 bytes, a multiple of 61

# The first $n bytes of the test pattern (starting at $off, default 0).
sub pattern {
    my ($n, $off) = @_;
    $off = ($off // 0) % 61;
    my $s = substr($PAT, $off) . ($PAT x (int($n / 61) + 2));
    return substr($s, 0, $n);
}

my %PMD5;
sub pattern_md5 {
    my ($n) = @_;
    return $PMD5{$n} //= do {
        my $d = Digest::MD5->new;
        my $left = $n;
        while ($left > 0) {
            my $k = $left < length $PAT_BLOCK ? $left : length $PAT_BLOCK;
            $d->add(substr($PAT_BLOCK, 0, $k));
            $left -= $k;
        }
        $d->hexdigest;
    };
}

# ---------------------------------------------------------------------------------------------
# addresses that fail

# A loopback port that refuses connections: a socket bound to it but not listening (kept for the
# life of the test, so no one else can take the port). Returns the port.
sub dead_port {
    socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    bind($s, pack_sockaddr_in(0, inet_aton('127.0.0.1'))) or die "bind: $!";
    my ($port) = sockaddr_in(getsockname($s));
    push @KEEP, $s;
    return $port;
}

# A loopback port where a connect never completes: a listening socket with backlog 0 whose accept
# queue is filled by our own connections and never accepted; the kernel then drops further SYNs.
# Returns the port.
sub blackhole_port {
    socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    bind($s, pack_sockaddr_in(0, inet_aton('127.0.0.1'))) or die "bind: $!";
    listen($s, 0) or die "listen: $!";
    my ($port) = sockaddr_in(getsockname($s));
    push @KEEP, $s;
    for (1 .. 3) {
        socket(my $c, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
        my $fl = fcntl($c, F_GETFL, 0);
        fcntl($c, F_SETFL, $fl | O_NONBLOCK);
        connect($c, pack_sockaddr_in($port, inet_aton('127.0.0.1')));
        push @KEEP, $c;
        sleep 0.05;
    }
    return $port;
}

# Whether a connect to 127.0.0.1:$port completes within $timeout seconds.
sub connect_completes {
    my ($port, $timeout) = @_;
    socket(my $c, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    my $fl = fcntl($c, F_GETFL, 0);
    fcntl($c, F_SETFL, $fl | O_NONBLOCK);
    my $r = connect($c, pack_sockaddr_in($port, inet_aton('127.0.0.1')));
    return 1 if $r;
    return 0 unless $! == EINPROGRESS;
    my $w = '';
    vec($w, fileno($c), 1) = 1;
    my $n = select(undef, my $wo = $w, undef, $timeout);
    return 0 unless $n;
    my $err = getsockopt($c, SOL_SOCKET, Socket::SO_ERROR());
    return unpack('i', $err) == 0 ? 1 : 0;
}

# ---------------------------------------------------------------------------------------------
# client-side helpers

# One GET on a new connection from the local address $local (127.0.0.2, say, to test address
# rules) with these header lines; the response (undef when there is none).
sub get_from {
    my ($local, $port, $path, @headers) = @_;
    my $c = GatewayTest::http_connect($port, local => $local) or return undef;
    $c->send(build_request('GET', $path, headers => \@headers)) or return undef;
    return $c->read_response;
}

# A raw request. Options: host (default "proxy.test"; undef: no Host header), headers =>
# [[name, value], ...] (in this order), body (sent with Content-Length unless a Content-Length or
# Transfer-Encoding header is given), proto (default HTTP/1.1).
sub build_request {
    my ($method, $target, %o) = @_;
    my $proto = $o{proto} // 'HTTP/1.1';
    my $s = "$method $target $proto\r\n";
    $s .= "Host: " . ($o{host} // 'proxy.test') . "\r\n" unless exists $o{host} && !defined $o{host};
    my @h = @{ $o{headers} || [] };
    $s .= "$_->[0]: $_->[1]\r\n" for @h;
    if (defined $o{body} && !grep { lc $_->[0] eq 'transfer-encoding' || lc $_->[0] eq 'content-length' } @h) {
        $s .= "Content-Length: " . length($o{body}) . "\r\n";
    }
    $s .= "\r\n";
    $s .= $o{body} if defined $o{body};
    return $s;
}

# Values of header $name (any case) in an /echo answer (decoded JSON), in received order.
sub echo_hdrs {
    my ($j, $name) = @_;
    return () unless $j && ref $j->{headers} eq 'ARRAY';
    return map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $j->{headers} };
}

# The same joined with ", ", or undef when absent.
sub echo_hdr {
    my @v = echo_hdrs(@_);
    return @v ? join(', ', @v) : undef;
}

# VmRSS of a process in KiB (undef if it is gone).
sub rss_kb {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return undef;
    while (my $l = <$fh>) { return $1 if $l =~ /^VmRSS:\s+(\d+)\s+kB/ }
    return undef;
}

# The common start of a test configuration: worker count, pid file, error log, the "http" and
# "admin" listeners.
sub conf_head {
    my ($workers) = @_;
    $workers //= 1;
    return "worker_processes: $workers\n"
         . "pid: logs/gatewayd.pid\n"
         . "error_log: logs/error.log\n"
         . "listeners:\n"
         . "  - address: 127.0.0.1:%%http%%\n"
         . "  - address: 127.0.0.1:%%admin%%\n"
         . "    admin: true\n";
}

# ---------------------------------------------------------------------------------------------
# backend objects

sub new {
    my ($class, %opt) = @_;
    my $self = bless {
        name         => 'backend',
        idle_timeout => 60,
        close_nth    => 0,
        max_requests => 0,
        %opt,
        pid          => undef,
    }, $class;
    $self->{tmp} = File::Temp->newdir('gatewayd-backend-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    $self->{stats_file} = "$self->{tmp}/stats";
    return $self;
}

sub name       { $_[0]{name} }
sub port       { $_[0]{port} }
sub pid        { $_[0]{pid} }
sub stats_file { $_[0]{stats_file} }

sub address {
    my ($self) = @_;
    return defined $self->{unix} ? "unix:$self->{unix}" : "127.0.0.1:$self->{port}";
}

sub start {
    my ($self) = @_;
    my $l;
    if (defined $self->{unix}) {
        unlink $self->{unix};
        $l = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $self->{unix}, Listen => 128)
            or die "listen on unix:$self->{unix}: $!";
    } else {
        $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $self->{port} // 0,
                                   Proto => 'tcp', Listen => 128, ReuseAddr => 1)
            or die "backend listen: $!";
        $self->{port} = $l->sockport;
    }
    spew_append($self->{stats_file}, '');
    $self->{owner_pid} = $$;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        setpgrp(0, 0);
        eval { $self->_accept_loop($l) };
        _exit(0);
    }
    setpgrp($pid, $pid);    # also from here, so it holds before we could kill the group
    close $l;
    $self->{pid} = $pid;
    $self->{owner} = $$;
    push @BACKENDS, $self;
    return $self;
}

sub stop {
    my ($self) = @_;
    my $pid = $self->{pid} or return $self;
    return $self unless $self->{owner} == $$;
    # the connection children first, while their parent (which reaps them) is alive; then the
    # listener process, which we reap
    kill 'STOP', $pid;
    my $deadline = time + 5;
    while (time < $deadline) {
        my @kids = _group_members($pid);
        last unless @kids;
        kill 'KILL', @kids;
        kill 'CONT', $pid;    # let it reap them (SIGCHLD is ignored there)
        sleep 0.01;
        kill 'STOP', $pid;
    }
    kill 'KILL', $pid;
    kill 'CONT', $pid;
    waitpid($pid, 0);
    while (time < $deadline) {
        last unless _group_members($pid, 1);
        kill 'KILL', -$pid;
        sleep 0.01;
    }
    $self->{pid} = undef;
    unlink $self->{unix} if defined $self->{unix};
    return $self;
}

# Live members of process group $pgid other than the leader (with $all, the leader too).
sub _group_members {
    my ($pgid, $all) = @_;
    my @m;
    opendir my $dh, '/proc' or return;
    for my $p (grep { /^\d+$/ } readdir $dh) {
        next if $p == $pgid && !$all;
        open my $fh, '<', "/proc/$p/stat" or next;
        my $s = <$fh> // next;
        my ($rest) = $s =~ /\) (.*)$/s or next;
        my @f = split ' ', $rest;
        push @m, $p if $f[2] == $pgid && $f[0] ne 'Z' && $f[0] ne 'X';
    }
    return @m;
}

sub alive { my $p = $_[0]{pid}; return $p && kill(0, $p) }

END {
    my $status = $?;
    for my $b (@BACKENDS) { eval { $b->stop } if $b->{owner} == $$ }
    @BACKENDS = ();
    $? = $status;
}

# Counters from the stats file: {connections, requests, closed, open, paths => [target, ...],
# conns => {conn id => requests on it}, methods => [...]}.
sub stats {
    my ($self) = @_;
    return parse_stats(slurp_file($self->{stats_file}) // '');
}

sub parse_stats {
    my ($text) = @_;
    my %s = (connections => 0, requests => 0, closed => 0, paths => [], methods => [], conns => {});
    for my $l (split /\n/, $text) {
        if ($l =~ /^C (\S+)/) { $s{connections}++; $s{conns}{$1} //= 0 }
        elsif ($l =~ /^R (\S+) (\d+) (\S+) (.*)$/) {
            $s{requests}++;
            $s{conns}{$1}++;
            push @{ $s{methods} }, $3;
            push @{ $s{paths} }, $4;
        }
        elsif ($l =~ /^X /) { $s{closed}++ }
    }
    $s{open} = $s{connections} - $s{closed};
    return \%s;
}

# Forgets the counters so far.
sub reset_stats {
    my ($self) = @_;
    open my $fh, '>', $self->{stats_file} or die "truncate $self->{stats_file}: $!";
    close $fh;
}

# Requests seen whose target matches $re.
sub count_requests {
    my ($self, $re) = @_;
    return scalar grep { $_ =~ $re } @{ $self->stats->{paths} };
}

sub slurp_file {
    my ($f) = @_;
    open my $fh, '<:raw', $f or return undef;
    local $/;
    my $s = <$fh>;
    return $s // '';
}

sub spew_append {
    my ($f, $s) = @_;
    sysopen(my $fh, $f, O_WRONLY | O_APPEND | O_CREAT) or die "open $f: $!";
    syswrite($fh, $s) if length $s;
    close $fh;
}

# ---------------------------------------------------------------------------------------------
# the server (runs in the forked processes)

sub _log {
    my ($self, $line) = @_;
    # one write(2) per line on an O_APPEND descriptor: lines from concurrent children never mix
    sysopen(my $fh, $self->{stats_file}, O_WRONLY | O_APPEND | O_CREAT) or return;
    syswrite($fh, "$line\n");
    close $fh;
}

sub _accept_loop {
    my ($self, $l) = @_;
    $SIG{CHLD} = 'IGNORE';    # connection children are reaped by the kernel
    $SIG{PIPE} = 'IGNORE';
    my $n = 0;
    my $owner = $self->{owner_pid};
    my $sel = IO::Select->new($l);
    while (1) {
        # the test process is gone (killed without running END): stop serving
        _exit(0) if getppid() != $owner;
        next unless $sel->can_read(1);
        my $c = $l->accept;
        unless ($c) {
            next if $! == EINTR || $! == EAGAIN;
            sleep 0.01;
            next;
        }
        $n++;
        my $id = "$$.$n";
        $self->_log("C $id");
        my $pid = fork;
        if (!defined $pid) { close $c; next }
        if ($pid == 0) {
            close $l;
            eval { Backend::Conn->new($self, $c, $id)->serve };
            $self->_log("X $id");
            _exit(0);
        }
        close $c;
    }
}

package Backend::Conn;

use strict;
use warnings;
use Digest::MD5 ();
use Digest::SHA qw(sha1);
use Errno qw(EINTR EAGAIN);
use IO::Select;
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use POSIX qw(_exit);
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(time sleep);

sub new {
    my ($class, $be, $sock, $id) = @_;
    binmode $sock;
    return bless { be => $be, sock => $sock, id => $id, buf => '', nreq => 0, eof => 0,
                   sel => IO::Select->new($sock), ppid => getppid() }, $class;
}

sub name { $_[0]{be}{name} }

# Reads more into the buffer, waiting at most $timeout s. 1 = got bytes, 0 = EOF/error, undef =
# timeout.
sub fill {
    my ($self, $timeout) = @_;
    return 0 if $self->{eof};
    my $deadline = time + ($timeout // 30);
    while (1) {
        my $left = $deadline - time;
        return undef if $left <= 0;
        # the listener process is gone (the backend was stopped): stop serving
        _exit(0) if getppid() != $self->{ppid};
        next unless $self->{sel}->can_read($left < 1 ? $left : 1);
        my $n = sysread($self->{sock}, my $chunk, 262144);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            $self->{eof} = 1;
            return 0;
        }
        if ($n == 0) { $self->{eof} = 1; return 0 }
        $self->{buf} .= $chunk;
        return 1;
    }
}

sub write_all {
    my ($self, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($self->{sock}, $data, length($data) - $off, $off);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            die "write: $!\n";
        }
        $off += $n;
    }
}

sub line {
    my ($self, $timeout) = @_;
    my $i;
    while (($i = index($self->{buf}, "\r\n")) < 0) {
        my $r = $self->fill($timeout);
        die "eof\n" unless $r;
    }
    my $l = substr($self->{buf}, 0, $i + 2, '');
    return substr($l, 0, $i);
}

sub serve {
    my ($self) = @_;
    my $be = $self->{be};
    while (1) {
        # wait for the next request head (a keep-alive connection idle too long is closed)
        my $end;
        while (($end = index($self->{buf}, "\r\n\r\n")) < 0) {
            my $r = $self->fill(length $self->{buf} ? 30 : $be->{idle_timeout});
            return unless $r;
        }
        my $head = substr($self->{buf}, 0, $end + 4, '');
        my @lines = split /\r\n/, substr($head, 0, $end);
        my $rl = shift @lines;
        my ($method, $target, $proto) = $rl =~ m{^(\S+) (\S+) (HTTP/\d\.\d)$} or return;
        my @h;
        for my $l (@lines) {
            my ($n, $v) = $l =~ /^([^:\s]+):[ \t]*(.*?)[ \t]*$/ or return;
            push @h, [$n, $v];
        }
        $self->{nreq}++;
        $be->_log("R $self->{id} $self->{nreq} $method $target");
        my $req = { method => $method, target => $target, proto => $proto, headers => \@h };
        ($req->{path}, $req->{query}) = $target =~ /^([^?]*)(?:\?(.*))?$/;
        $req->{query} //= '';
        $req->{q} = { map { my ($k, $v) = split /=/, $_, 2; ($k => $v // '') } split /&/, $req->{query} };
        if ($be->{close_nth} && $self->{nreq} >= $be->{close_nth}) {
            return;    # close without an answer
        }
        my $conn_hdr = lc(hdr($req, 'connection') // '');
        my $keep = $proto eq 'HTTP/1.1' ? $conn_hdr !~ /\bclose\b/ : $conn_hdr =~ /\bkeep-alive\b/;
        $keep = 0 if $be->{max_requests} && $self->{nreq} >= $be->{max_requests};
        $req->{keep} = $keep;
        my $cont = $self->dispatch($req);
        return unless $cont && $keep;
    }
}

sub hdr {
    my ($req, $name) = @_;
    my @v = map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $req->{headers} };
    return @v ? join(', ', @v) : undef;
}

# Reads the request body (Content-Length or chunked), streaming into an MD5. Returns {length,
# md5, body (first 4096 bytes), trailers, chunked}.
sub read_body {
    my ($self, $req) = @_;
    my $md5 = Digest::MD5->new;
    my ($len, $keep, @trailers) = (0, '');
    my $te = lc(hdr($req, 'transfer-encoding') // '');
    my $cl = hdr($req, 'content-length');
    my $take = sub {
        my ($n) = @_;
        while ($n > 0) {
            if (!length $self->{buf}) {
                my $r = $self->fill(30);
                die "eof in body\n" unless $r;
            }
            my $k = length($self->{buf}) < $n ? length($self->{buf}) : $n;
            my $part = substr($self->{buf}, 0, $k, '');
            $md5->add($part);
            $keep .= substr($part, 0, 4096 - length $keep) if length $keep < 4096;
            $len += $k;
            $n -= $k;
        }
    };
    if ($te =~ /chunked/) {
        while (1) {
            my $l = $self->line;
            my ($size) = $l =~ /^([0-9a-fA-F]+)/ or die "bad chunk line\n";
            $size = hex $size;
            if ($size == 0) {
                while (1) {
                    my $t = $self->line;
                    last if $t eq '';
                    push @trailers, [$1, $2] if $t =~ /^([^:\s]+):[ \t]*(.*?)[ \t]*$/;
                }
                last;
            }
            $take->($size) if $size;
            my $crlf = $self->line;
            die "bad chunk end\n" unless $crlf eq '';
        }
    } elsif (defined $cl && $cl =~ /^\d+$/ && $cl > 0) {
        $take->($cl);
    }
    return { length => $len, md5 => $md5->hexdigest, body => $keep, trailers => \@trailers,
             chunked => ($te =~ /chunked/ ? 1 : 0) };
}

sub respond {
    my ($self, $req, $status, $body, @hdr) = @_;
    my %has = map { lc $_->[0] => 1 } @hdr;
    my $reason = { 100 => 'Continue', 101 => 'Switching Protocols', 103 => 'Early Hints',
                   200 => 'OK', 201 => 'Created', 204 => 'No Content', 302 => 'Found',
                   304 => 'Not Modified', 400 => 'Bad Request', 403 => 'Forbidden',
                   404 => 'Not Found', 500 => 'Internal Server Error', 502 => 'Bad Gateway',
                   503 => 'Service Unavailable', 504 => 'Gateway Timeout' }->{$status} // 'Status';
    my $s = "HTTP/1.1 $status $reason\r\n";
    $s .= "X-Backend: $self->{be}{name}\r\n";
    my $nobody = $status =~ /^1/ || $status == 204 || $status == 304;
    $s .= "Content-Length: " . length($body) . "\r\n" unless $nobody || $has{'content-length'};
    $s .= "Connection: close\r\n" unless $req->{keep} || $has{connection};
    $s .= "$_->[0]: $_->[1]\r\n" for @hdr;
    $s .= "\r\n";
    $s .= $body unless $nobody || $req->{method} eq 'HEAD';
    $self->write_all($s);
    return 1;
}

sub dispatch {
    my ($self, $req) = @_;
    my $p = $req->{path};
    my $name = $self->name;
    my $m = $req->{method};

    # A test's own answers (option handler => sub { my ($conn, $req) = @_; ... }): it may write
    # with $conn->write_all, read the request body with $conn->read_body($req), and returns true
    # to keep the connection, false to close it, or undef to leave the request to the paths below.
    if (my $h = $self->{be}{handler}) {
        my $r = $h->($self, $req);
        return $r if defined $r;
    }
    if ($p eq '/reset') {
        if ($req->{q}{rst}) {
            setsockopt($self->{sock}, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
        }
        close $self->{sock};
        return 0;
    }
    if ($p eq '/garbage') {
        $self->write_all("NOT-HTTP garbage\r\n\r\n");
        return 0;
    }
    if ($p eq '/ws') {
        return $self->websocket($req);
    }
    if ($p eq '/info-flood') {
        my $head = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n";
        my $until = time + 30;
        # Non-blocking, so that a proxy that stops reading ends the flood instead of hanging it.
        my $fl = fcntl($self->{sock}, Fcntl::F_GETFL(), 0);
        fcntl($self->{sock}, Fcntl::F_SETFL(), $fl | Fcntl::O_NONBLOCK());
        my $ws = IO::Select->new($self->{sock});
        my $buf = $head x 64;
        while (time < $until) {
            last unless $ws->can_write(1);
            my $n = syswrite($self->{sock}, $buf);
            last if !defined $n && $! != EAGAIN && $! != EINTR;
        }
        return 0;
    }
    if ($p eq '/conn-framing') {
        my $h = $req->{q}{h} || 'content-length';
        $self->write_all("HTTP/1.1 200 OK\r\nX-Backend: $name\r\nContent-Length: 5\r\nConnection: $h\r\n\r\nhello");
        return 1;
    }
    if ($p =~ m{^/te/([\w,; =-]+)$}) {
        $self->write_all("HTTP/1.1 200 OK\r\nX-Backend: $name\r\nTransfer-Encoding: $1\r\n\r\nraw");
        return 0;
    }
    if ($p eq '/ws-bad') {
        my $u = $req->{q}{u} // '';
        $self->write_all("HTTP/1.1 101 Switching Protocols\r\nUpgrade: $u\r\nConnection: Upgrade\r\n\r\n");
        sleep 0.5;
        return 0;
    }
    if ($p eq '/head-cl') {
        $self->write_all("HTTP/1.1 200 OK\r\nX-Backend: $name\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"
                         . ($m eq 'HEAD' ? '' : 'hello'));
        return 0;
    }
    if ($p eq '/evil-trailers') {
        $self->read_body($req);
        $self->write_all("HTTP/1.1 200 OK\r\nX-Backend: $name\r\nTransfer-Encoding: chunked\r\n"
                         . "Trailer: Set-Cookie, X-Forwarded-For, Content-Length, X-Ok\r\n\r\n"
                         . "5\r\nhello\r\n0\r\nSet-Cookie: sid=evil\r\nX-Forwarded-For: 6.6.6.6\r\n"
                         . "Content-Length: 99\r\nX-Ok: 1\r\n\r\n");
        return 1;
    }

    my $b = $self->read_body($req);

    if ($p =~ m{^/status/(\d{3})$}) {
        my $st = $1;
        return $self->respond($req, $st, "status $st", ['Content-Type', 'text/plain']);
    }
    if ($p eq '/id') {
        return $self->respond($req, 200, $name, ['Content-Type', 'text/plain']);
    }
    if ($p =~ m{^/fail-on/([^/]+)/(\d{3})$}) {
        return $self->respond($req, $1 eq $name ? $2 : 200, $1 eq $name ? "fail $name" : $name);
    }
    if ($p =~ m{^/slow-on/([^/]+)/(\d+)$}) {
        sleep($2 / 1000) if $1 eq $name;
        return $self->respond($req, 200, $name);
    }
    if ($p =~ m{^/bytes/(\d+)$}) {
        return $self->respond($req, 200, Backend::pattern($1),
                              ['Content-Type', 'application/octet-stream']);
    }
    if ($p =~ m{^/download/(\d+)$}) {
        my $n = $1;
        my $s = "HTTP/1.1 200 OK\r\nX-Backend: $name\r\nContent-Type: application/octet-stream\r\n"
              . "Content-Length: $n\r\n" . ($req->{keep} ? '' : "Connection: close\r\n") . "\r\n";
        $self->write_all($s);
        return 1 if $m eq 'HEAD';
        my $left = $n;
        while ($left > 0) {
            my $k = $left < length $PAT_BLOCK ? $left : length $PAT_BLOCK;
            $self->write_all($k == length $PAT_BLOCK ? $PAT_BLOCK : substr($PAT_BLOCK, 0, $k));
            $left -= $k;
        }
        return 1;
    }
    if ($p =~ m{^/chunked/(\d+)$}) {
        my $n = $1;
        my $pieces = $req->{q}{pieces} || 5;
        my $data = Backend::pattern($n);
        my $s = "HTTP/1.1 200 OK\r\nX-Backend: $name\r\nContent-Type: application/octet-stream\r\n"
              . "Transfer-Encoding: chunked\r\nTrailer: X-Checksum, X-Trailer\r\n"
              . ($req->{keep} ? '' : "Connection: close\r\n") . "\r\n";
        $self->write_all($s);
        return 1 if $m eq 'HEAD';
        my $off = 0;
        my $size = int($n / $pieces) | 1;    # odd piece sizes
        my $i = 0;
        while ($off < $n) {
            my $k = $size + 2 * ($i++ % 3);    # 3 different odd sizes
            $k = $n - $off if $k > $n - $off;
            $self->write_all(sprintf("%x\r\n", $k) . substr($data, $off, $k) . "\r\n");
            $off += $k;
            sleep 0.002;    # separate writes: the proxy sees the pieces apart
        }
        $self->write_all("0\r\nX-Checksum: " . Digest::MD5::md5_hex($data) . "\r\nX-Trailer: done\r\n\r\n");
        return 1;
    }
    if ($p =~ m{^/slow-chunks/(\d+)$}) {    # one chunk, a pause of MS, then the rest (a stream)
        my $ms = $1;
        $self->write_all("HTTP/1.1 200 OK\r\nX-Backend: $name\r\nContent-Type: text/event-stream\r\n"
                         . "Transfer-Encoding: chunked\r\n\r\n6\r\nfirst\n\r\n");
        sleep($ms / 1000);
        $self->write_all("5\r\nlast\n\r\n0\r\n\r\n");
        return 1;
    }
    if ($p =~ m{^/close-delimited/(\d+)$}) {
        my $n = $1;
        $self->write_all("HTTP/1.1 200 OK\r\nX-Backend: $name\r\nContent-Type: application/octet-stream\r\n"
                         . "Connection: close\r\n\r\n");
        $self->write_all(Backend::pattern($n)) unless $m eq 'HEAD';
        return 0;
    }
    if ($p =~ m{^/slow-head/(\d+)$}) {
        sleep($1 / 1000);
        return $self->respond($req, 200, 'slow');
    }
    if ($p =~ m{^/slow-body/(\d+)$}) {
        my $ms = $1;
        $self->write_all("HTTP/1.1 200 OK\r\nX-Backend: $name\r\nContent-Length: 20\r\n\r\n" . ('a' x 10));
        sleep($ms / 1000);
        $self->write_all('b' x 10);
        return 1;
    }
    if ($p =~ m{^/close-mid/(\d+)$}) {
        my $n = $1;
        $self->write_all("HTTP/1.1 200 OK\r\nX-Backend: $name\r\nContent-Length: $n\r\n\r\n"
                         . Backend::pattern(int($n / 2)));
        sleep 0.05;
        return 0;
    }
    if ($p eq '/info') {
        my $code = $req->{q}{code} || 103;
        my $reason = $code == 100 ? 'Continue' : $code == 102 ? 'Processing' : 'Early Hints';
        $self->write_all("HTTP/1.1 $code $reason\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n");
        sleep(($req->{q}{delay} // 50) / 1000);
        return $self->respond($req, 200, 'final');
    }
    if ($p eq '/hop') {
        return $self->respond($req, 200, 'hop',
                              ['Connection', $req->{keep} ? 'keep-alive, X-Hop' : 'close, X-Hop'],
                              ['X-Hop', 'secret'],
                              ['Keep-Alive', 'timeout=5, max=100'],
                              ['Proxy-Connection', 'keep-alive'],
                              ['X-Kept', 'yes'],
                              ['X-Secret-Resp', 'hidden']);
    }
    if ($p eq '/stats') {
        return $self->respond($req, 200, JSON::PP->new->canonical->encode($self->{be}->stats),
                              ['Content-Type', 'application/json']);
    }
    # /echo, /upload and everything else
    my $j = {
        backend     => $name,
        conn        => $self->{id},
        conn_req    => $self->{nreq},
        method      => $m,
        target      => $req->{target},
        path        => $req->{path},
        query       => $req->{query},
        proto       => $req->{proto},
        headers     => $req->{headers},
        body_length => $b->{length},
        body_md5    => $b->{md5},
        trailers    => $b->{trailers},
        chunked     => $b->{chunked},
        ($b->{length} <= 4096 ? (body => $b->{body}) : ()),
    };
    return $self->respond($req, 200, JSON::PP->new->canonical->encode($j),
                          ['Content-Type', 'application/json']);
}

# --- WebSocket (server side) -----------------------------------------------------------------

sub websocket {
    my ($self, $req) = @_;
    my $key = hdr($req, 'sec-websocket-key');
    my $up = lc(hdr($req, 'upgrade') // '');
    my $conn = lc(hdr($req, 'connection') // '');
    if ($req->{q}{reject} || !$key || $up ne 'websocket' || $conn !~ /\bupgrade\b/) {
        return $self->respond($req, 403, "no upgrade", ['Content-Type', 'text/plain']);
    }
    my $accept = encode_base64(sha1($key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'), '');
    $self->write_all("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     . "Sec-WebSocket-Accept: $accept\r\nX-Backend: $self->{be}{name}\r\n\r\n");
    while (1) {
        my $f = Backend::ws_parse(\$self->{buf});
        unless ($f) {
            my $r = $self->fill(3600);
            return 0 unless $r;
            next;
        }
        my ($op, $payload) = @$f;
        if ($op == 8) {
            $self->write_all(Backend::ws_frame(8, $payload, 0));
            return 0;
        }
        if ($op == 9) { $self->write_all(Backend::ws_frame(10, $payload, 0)); next }
        next if $op == 10;
        $self->write_all(Backend::ws_frame($op, $payload, 0));
    }
}

package Backend;

# --- WebSocket framing (both sides) ------------------------------------------------------------

# One final frame with opcode $op; masked with a random key when $mask (client to server).
sub ws_frame {
    my ($op, $payload, $mask) = @_;
    $payload //= '';
    my $len = length $payload;
    my $f = chr(0x80 | $op);
    my $mbit = $mask ? 0x80 : 0;
    if ($len < 126) { $f .= chr($mbit | $len) }
    elsif ($len < 65536) { $f .= chr($mbit | 126) . pack('n', $len) }
    else { $f .= chr($mbit | 127) . pack('Q>', $len) }
    if ($mask) {
        my $key = pack('N', int(rand(2**32)));
        my $m = ($key x (int($len / 4) + 1));
        $f .= $key . ($payload ^ substr($m, 0, $len));
    } else {
        $f .= $payload;
    }
    return $f;
}

# Takes one complete frame off the front of $$buf: [opcode, payload (unmasked), masked, fin] or
# undef when incomplete.
sub ws_parse {
    my ($buf) = @_;
    return undef if length $$buf < 2;
    my ($b0, $b1) = unpack('CC', $$buf);
    my $op = $b0 & 0x0f;
    my $fin = $b0 & 0x80 ? 1 : 0;
    my $masked = $b1 & 0x80 ? 1 : 0;
    my $len = $b1 & 0x7f;
    my $off = 2;
    if ($len == 126) { return undef if length $$buf < 4; $len = unpack('n', substr($$buf, 2, 2)); $off = 4 }
    elsif ($len == 127) { return undef if length $$buf < 10; $len = unpack('Q>', substr($$buf, 2, 8)); $off = 10 }
    my $key = '';
    if ($masked) { return undef if length $$buf < $off + 4; $key = substr($$buf, $off, 4); $off += 4 }
    return undef if length $$buf < $off + $len;
    my $payload = substr($$buf, $off, $len);
    substr($$buf, 0, $off + $len, '');
    if ($masked) {
        my $m = ($key x (int($len / 4) + 1));
        $payload ^= substr($m, 0, $len);
    }
    return [$op, $payload, $masked, $fin];
}

# Client side, over a GatewayTest::Conn: sends the upgrade request for $path and reads the
# answer. Returns the response (status 101 on success).
sub ws_handshake {
    my ($c, $path, %opt) = @_;
    my $key = encode_base64(join('', map { chr int rand 256 } 1 .. 16), '');
    my $host = $opt{host} // 'ws.test';
    $c->send("GET $path HTTP/1.1\r\nHost: $host\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             . "Sec-WebSocket-Key: $key\r\nSec-WebSocket-Version: 13\r\n\r\n") or return undef;
    my $r = $c->read_response(head => 1, timeout => $opt{timeout} // 5) or return undef;
    # a non-101 answer has a body: read it as a normal response would
    if ($r->{status} != 101 && defined $r->{headers}{'content-length'}) {
        my $len = $r->{headers}{'content-length'};
        my $deadline = time + 5;
        while (length($c->{buf}) < $len) { $c->fill($deadline) or last }
        $r->{body} = substr($c->{buf}, 0, $len, '');
    }
    $r->{expected_accept} = encode_base64(sha1($key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'), '');
    return $r;
}

sub ws_send {
    my ($c, $op, $payload) = @_;
    return $c->send(ws_frame($op, $payload, 1));
}

# Reads one frame from the server: [opcode, payload, masked, fin], or undef on timeout/EOF.
sub ws_recv {
    my ($c, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (1) {
        my $f = ws_parse(\$c->{buf});
        return $f if $f;
        my $n = $c->fill($deadline);
        return undef unless $n;
    }
}

1;
