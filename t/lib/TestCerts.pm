package TestCerts;
# Certificates for the TLS tests, made with the openssl command under private CAs in a test's
# scratch directory: ECDSA P-256 keys, unencrypted, valid for 30 days unless asked otherwise.
#
#   my $certs = TestCerts->new($dir);
#   $certs->ca('ca');                                        # ca.pem, ca.key
#   $certs->cert('srv', ca => 'ca', cn => 'backend.test',    # srv.pem, srv.key
#                san => 'DNS:backend.test,IP:127.0.0.1', days => 30);
#
#   my $port = $certs->s_server_www($www, 'srv');           # openssl s_server -WWW over $www
#
# Names are file stems in $dir; paths come back from path(). A failing openssl command ends the
# test (BAIL_OUT) with its output.
use strict;
use warnings;
use IO::Socket::INET;
use Test::More ();
use GatewayTest ();
use Time::HiRes qw(sleep time);

our $EC = '-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes';

sub available { system('openssl version >/dev/null 2>&1') == 0 }

sub new {
    my ($class, $dir) = @_;
    return bless { dir => $dir }, $class;
}

sub path { my ($self, $stem, $ext) = @_; "$self->{dir}/$stem." . ($ext // 'pem') }

sub openssl {
    my ($self, $args) = @_;
    my $out = `cd '$self->{dir}' && openssl $args 2>&1`;
    Test::More::BAIL_OUT("openssl $args failed: $out") if $? != 0;
    return $out;
}

# A self-signed CA: $stem.pem and $stem.key.
sub ca {
    my ($self, $stem, %opt) = @_;
    my $cn = $opt{cn} // "$stem CA";
    $self->openssl("req -x509 $EC -keyout $stem.key -out $stem.pem -days " . ($opt{days} // 30) . " -subj '/CN=$cn'");
    return $self->path($stem);
}

# A certificate issued by CA `ca` (a stem made by ca()): $stem.pem and $stem.key. san: the
# subjectAltName value ("DNS:a.test,IP:127.0.0.1"); days may be negative (an expired one).
sub cert {
    my ($self, $stem, %opt) = @_;
    my $ca = $opt{ca} // die 'cert: ca => STEM';
    my $subj = $opt{subj} // '/CN=' . ($opt{cn} // $stem);
    $self->openssl("req $EC -keyout $stem.key -out $stem.csr -subj '$subj'");
    my $ext = '';
    if ($opt{san}) {
        open my $fh, '>', "$self->{dir}/$stem.ext" or die "$stem.ext: $!";
        print $fh "subjectAltName=$opt{san}\n";
        close $fh;
        $ext = "-extfile $stem.ext";
    }
    $self->openssl("x509 -req -in $stem.csr -CA $ca.pem -CAkey $ca.key -CAcreateserial -days " . ($opt{days} // 30) .
                   " $ext -out $stem.pem");
    return $self->path($stem);
}

# A TLS server on a free 127.0.0.1 port: `openssl s_server -WWW` with certificate $stem, serving
# the files of $www (GET /NAME answers "HTTP/1.0 200 ok" and the file - 200 even for a file that
# is not there - then closes), one connection at a time; its output goes to $dir/s_server-$stem.log.
# Killed when the test ends. Returns the port once it accepts connections.
my @servers;
sub s_server_www {
    my ($self, $www, $stem) = @_;
    my $port = GatewayTest::free_port();
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        chdir $www or die "$www: $!";
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$self->{dir}/s_server-$stem.log";
        open STDERR, '>&', \*STDOUT;
        exec 'openssl', 's_server', '-accept', "127.0.0.1:$port", '-cert', $self->path($stem), '-key',
            $self->path($stem, 'key'), '-WWW', '-quiet';
        exit 127;
    }
    push @servers, $pid;
    my $deadline = time + 10;
    until (IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 1)) {
        Test::More::BAIL_OUT("openssl s_server ($stem) does not listen on $port") if time > $deadline;
        sleep 0.05;
    }
    return $port;
}

END {
    local $?;
    kill 'KILL', @servers if @servers;
    waitpid $_, 0 for @servers;
}

1;
