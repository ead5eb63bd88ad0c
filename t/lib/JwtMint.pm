package JwtMint;
# Keys and tokens for the auth tests, through t/helpers/jwt-mint.py (Debian's python3-jwt and
# python3-cryptography: another implementation than the one under test).
#
#   JwtMint::skip_unless_available();        # plan skip_all where python3-jwt is missing
#   JwtMint::keys($dir);                      # $dir/{rsa,ec,ed}.pem, jwks.json, hs.secret ...
#   my @tokens = JwtMint::mint($dir, {alg => 'RS256', kid => 'rsa', key => 'rsa', claims => {...}}, ...);
#
# One python run per call; the specs are those jwt-mint.py documents.
use strict;
use warnings;
use FindBin;
use IPC::Open2;
use JSON::PP;
use Test::More ();

# Debian's python (the one python3-jwt is installed for), not whatever python3 PATH finds first.
our $PYTHON = '/usr/bin/python3';
my $SCRIPT = "$FindBin::Bin/helpers/jwt-mint.py";

sub available { system($PYTHON, '-c', 'import jwt, cryptography') == 0 }

sub skip_unless_available {
    Test::More::plan(skip_all => 'python3-jwt is not installed (make test installs it)') unless available();
}

sub keys {
    my ($dir) = @_;
    system($PYTHON, $SCRIPT, 'keys', $dir) == 0 or Test::More::BAIL_OUT("jwt-mint.py keys $dir failed");
    return $dir;
}

sub mint {
    my ($dir, @specs) = @_;
    my $pid = open2(my $out, my $in, $PYTHON, $SCRIPT, 'mint', $dir);
    my $json = JSON::PP->new->canonical;
    print $in $json->encode($_), "\n" for @specs;
    close $in;
    my @tokens = map { chomp; $_ } <$out>;
    waitpid $pid, 0;
    die "jwt-mint.py mint failed" unless @tokens == @specs;
    return @tokens;
}

1;
