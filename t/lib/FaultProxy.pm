package FaultProxy;

# A TCP proxy on 127.0.0.1 between the gateway and a real server (redis-server), with a link that
# misbehaves on demand, switched while the test runs. Core Perl modules only; it runs in a child
# process, controlled over a socket pair (each switch is acknowledged before mode() returns).
#
#   my $proxy = FaultProxy->new(to => $redis->port)->start;
#   $proxy->port;                 # where the gateway connects
#   $proxy->mode('delay', 200);   # every byte, both ways, forwarded 200 ms after it came
#   $proxy->mode('delay_up', 20); # only the bytes to the server (requests) are delayed
#   $proxy->mode('delay_down', 20);  # only the bytes to the client (replies)
#   $proxy->mode('blackhole');    # connections are accepted and made upstream (the handshakes
#                                 # pass), every byte is dropped, both ways
#   $proxy->mode('pass');         # forwarded at once
#   $proxy->connections;          # accepted so far
#
# A mode applies to the bytes read after the switch: bytes already delayed still arrive on time,
# as on a real link, including after their sender closed. Every proxy is stopped when the test
# script ends.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use POSIX qw(_exit);
use Socket qw(AF_UNIX SOCK_STREAM PF_UNSPEC);
use Time::HiRes qw(time);

my @PROXIES;

sub new {
    my ($class, %opt) = @_;
    die "FaultProxy: to => PORT is required\n" unless $opt{to};
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 128,
                                       ReuseAddr => 1)
        or die "FaultProxy: cannot listen: $!\n";
    my $self = bless { to => $opt{to}, listen => $listen, port => $listen->sockport, pid => undef }, $class;
    push @PROXIES, $self;
    return $self;
}

sub port { $_[0]{port} }

sub start {
    my ($self) = @_;
    socketpair(my $parent, my $child, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $parent;
        eval { _serve($self->{listen}, $self->{to}, $child) };
        _exit(0);
    }
    close $child;
    close $self->{listen};
    $parent->autoflush(1);
    $self->{pid} = $pid;
    $self->{ctl} = $parent;
    return $self;
}

sub _ask {
    my ($self, $line) = @_;
    my $ctl = $self->{ctl};
    print $ctl "$line\n";
    my $answer = <$ctl>;
    die "FaultProxy: no answer to '$line'\n" unless defined $answer;
    chomp $answer;
    return $answer;
}

sub mode {
    my ($self, $mode, $delay_ms) = @_;
    die "FaultProxy: unknown mode $mode\n" unless $mode =~ /^(pass|delay|delay_up|delay_down|blackhole)$/;
    return $self->_ask(join ' ', $mode, $delay_ms // 0);
}

sub connections { $_[0]->_ask('connections') }

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'KILL', $self->{pid};
    waitpid($self->{pid}, 0);
    $self->{pid} = undef;
}

# --- the child ---------------------------------------------------------------------------------

sub _serve {
    my ($listen, $to, $ctl) = @_;
    $ctl->autoflush(1);
    $listen->blocking(0);
    my ($mode, $delay) = ('pass', 0);
    my $accepted = 0;
    my $sel = IO::Select->new($listen, $ctl);
    my %peer;   # fileno -> the other socket
    my %queue;  # fileno of the destination -> [[due, bytes], ...]
    my %sock;   # fileno -> socket
    my %eof;    # fileno of the destination -> its source has closed
    my %client; # fileno -> 1 for the accepted (client) side
    my $ctl_buf = '';

    my $close_pair = sub {
        my ($s) = @_;
        my $o = $peer{ fileno $s };
        for my $x (grep { defined } $s, $o) {
            my $f = fileno $x;
            next unless defined $f;
            $sel->remove($x);
            delete @{$_}{$f} for \%peer, \%queue, \%sock, \%eof, \%client;
            close $x;
        }
    };

    while (1) {
        my $now = time;
        # Forward what is due.
        for my $f (keys %queue) {
            my $q = $queue{$f};
            while (@$q && $q->[0][0] <= $now) {
                my $chunk = shift @$q;
                my $dst = $sock{$f};
                my $off = 0;
                while ($dst && $off < length $chunk->[1]) {
                    my $n = syswrite($dst, $chunk->[1], length($chunk->[1]) - $off, $off);
                    last unless defined $n;
                    $off += $n;
                }
            }
        }
        # A side that closed, once what it sent has been delivered: close the pair.
        for my $f (keys %eof) {
            next unless exists $queue{$f};
            $close_pair->($sock{$f}) if $eof{$f} && !@{ $queue{$f} };
        }
        my $next = 0.05;
        for my $q (values %queue) {
            $next = $q->[0][0] - $now if @$q && $q->[0][0] - $now < $next;
        }
        $next = 0 if $next < 0;
        for my $s ($sel->can_read($next)) {
            if ($s == $ctl) {
                my $n = sysread($ctl, $ctl_buf, 4096, length $ctl_buf);
                return unless $n;  # the test went away
                while ($ctl_buf =~ s/^(.*)\n//) {
                    my ($cmd, $arg) = split ' ', $1;
                    if ($cmd eq 'connections') {
                        print $ctl "$accepted\n";
                    } else {
                        ($mode, $delay) = ($cmd, ($arg // 0) / 1000);
                        print $ctl "ok\n";
                    }
                }
                next;
            }
            if ($s == $listen) {
                while (my $c = $listen->accept) {
                    my $u = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $to, Proto => 'tcp');
                    unless ($u) {
                        close $c;
                        next;
                    }
                    $accepted++;
                    $client{ fileno $c } = 1;
                    for ([$c, $u], [$u, $c]) {
                        my ($a, $b) = @$_;
                        binmode $a;
                        $peer{ fileno $a } = $b;
                        $sock{ fileno $a } = $a;
                        $queue{ fileno $a } = [];
                        $eof{ fileno $a } = 0;
                        $sel->add($a);
                    }
                }
                next;
            }
            my $f = fileno $s;
            next unless defined $f && $peer{$f};
            my $dst = $peer{$f};
            my $buf;
            my $n = sysread($s, $buf, 65536);
            if (!$n) {
                # Closed: the other side gets what is on its way, then is closed too.
                $sel->remove($s);
                $eof{ fileno $dst } = 1;
                next;
            }
            next if $mode eq 'blackhole';
            my $up = $client{$f};  # from the client, to the server
            my $delayed = $mode eq 'delay' || ($mode eq 'delay_up' && $up) || ($mode eq 'delay_down' && !$up);
            push @{ $queue{ fileno $dst } }, [$delayed ? time + $delay : 0, $buf];
        }
    }
}

END {
    my $status = $?;
    $_->stop for @PROXIES;
    $? = $status;
}

1;
