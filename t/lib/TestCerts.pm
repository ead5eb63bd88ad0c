package TestCerts;
# Certificates for the TLS tests, made with the openssl command under private CAs in a test's
# scratch directory: ECDSA P-256 keys, unencrypted, valid for 30 days unless asked otherwise.
#
#   my $certs = TestCerts->new($dir);
#   $certs->ca('ca');                                        # ca.pem, ca.key
#   $certs->cert('srv', ca => 'ca', cn => 'backend.test',    # srv.pem, srv.key
#                san => 'DNS:backend.test,IP:127.0.0.1', days => 30);
#
# Names are file stems in $dir; paths come back from path(). A failing openssl command ends the
# test (BAIL_OUT) with its output.
use strict;
use warnings;
use Test::More ();

my $EC = '-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes';

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

1;
