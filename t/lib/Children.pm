package Children;
# Peers a test starts itself (a python3-grpcio server, nghttpd, ...): started with their output in
# a log file, killed when the test ends, and waited for by their port.
#   my $pid = spawn("$dir/peer.log", @cmd);   stop_child($pid);   wait_port($port) or die;
use strict;
use warnings;
use Exporter 'import';
use IO::Socket::INET;
use POSIX qw(_exit);
use GatewayTest qw(wait_until);

our @EXPORT = qw(spawn stop_child wait_port);
my @children;
END { kill 'TERM', $_ for grep { $_ } @children; }

sub spawn {
    my ($log, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or _exit(126);
        open STDERR, '>&', \*STDOUT or _exit(126);
        exec { $cmd[0] } @cmd or _exit(127);
    }
    push @children, $pid;
    return $pid;
}

sub stop_child {
    my ($pid) = @_;
    kill 'KILL', $pid;
    waitpid $pid, 0;
    @children = grep { $_ != $pid } @children;
}

sub wait_port {
    my ($port) = @_;
    return wait_until(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 1) ? 1 : 0 }, 10);
}

1;
