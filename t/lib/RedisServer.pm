package RedisServer;

# A redis-server of a test's own, on a free loopback port, without persistence, and a raw RESP
# client for the few commands a test sends it. Core Perl modules only.
#
#   plan skip_all => 'redis-server is not installed' unless RedisServer->available;
#   my $redis = RedisServer->new->start;
#   $redis->command('SCRIPT', 'FLUSH');     # 'OK'
#   $redis->kill9;                          # SIGKILL, as a crash
#   $redis->start;                          # again, on the same port
#
# Every server started is killed when the test script ends.

use strict;
use warnings;

use File::Temp ();
use IO::Socket::INET;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(time sleep);

my @SERVERS;

sub available {
    return system('command -v redis-server >/dev/null 2>&1') == 0;
}

sub new {
    my ($class, %opt) = @_;
    my $port = $opt{port} // do {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 1)
            or die "cannot bind a free port: $!";
        my $p = $s->sockport;
        close $s;
        $p;
    };
    my $self = bless { port => $port, pid => undef,
                       dir => File::Temp->newdir('redis-test-XXXXXX', TMPDIR => 1, CLEANUP => 1) }, $class;
    push @SERVERS, $self;
    return $self;
}

sub port { $_[0]{port} }
sub pid  { $_[0]{pid} }

# Starts redis-server and waits until it accepts connections (dies after 10 s).
sub start {
    my ($self) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', "$self->{dir}/stderr";
        { exec 'redis-server', '--port', $self->{port}, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
               '--dir', "$self->{dir}", '--loglevel', 'warning' }  # (a block: no "unlikely to be reached")
        _exit(127);
    }
    $self->{pid} = $pid;
    my $deadline = time + 10;
    while (time < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port}, Proto => 'tcp');
        if ($s) {
            close $s;
            return $self;
        }
        die "redis-server exited at once\n" if waitpid($pid, WNOHANG) == $pid;
        sleep 0.01;
    }
    die "redis-server did not start on port $self->{port}\n";
}

sub signal {
    my ($self, $sig) = @_;
    kill $sig, $self->{pid} if $self->{pid};
}

# SIGKILL, and reaped: the port is free again when this returns.
sub kill9 {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'CONT', $self->{pid};
    kill 'KILL', $self->{pid};
    waitpid($self->{pid}, 0);
    $self->{pid} = undef;
}

# Sends one command; returns the reply: a string (status, bulk), a number, an array ref, or
# undef for a nil or no answer. An error reply is returned as "ERR: message".
sub command {
    my ($self, @args) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port}, Proto => 'tcp', Timeout => 5)
        or return undef;
    binmode $s;
    print $s '*' . scalar(@args) . "\r\n" . join('', map { '$' . length($_) . "\r\n$_\r\n" } @args);
    my $r = _read_reply($s);
    close $s;
    return $r;
}

sub _read_reply {
    my ($s) = @_;
    my $line = <$s> // return undef;
    $line =~ s/\r\n$//;
    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $type eq '+';
    return "ERR: $rest" if $type eq '-';
    return 0 + $rest if $type eq ':';
    if ($type eq '$') {
        return undef if $rest < 0;
        my $data = '';
        while (length($data) < $rest + 2) {
            my $n = read($s, $data, $rest + 2 - length($data), length($data));
            return undef unless $n;
        }
        return substr($data, 0, $rest);
    }
    if ($type eq '*') {
        return undef if $rest < 0;
        return [map { _read_reply($s) } 1 .. $rest];
    }
    return undef;
}

# The calls of one command in INFO commandstats (e.g. 'evalsha').
sub calls {
    my ($self, $cmd) = @_;
    my $info = $self->command('INFO', 'commandstats') // '';
    return $info =~ /^cmdstat_\Q$cmd\E:calls=(\d+)/m ? $1 : 0;
}

END {
    my $status = $?;
    $_->kill9 for @SERVERS;
    $? = $status;
}

1;
