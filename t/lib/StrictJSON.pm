package StrictJSON;

# A strict JSON reader (RFC 8259) for log lines, core Perl only. JSON::PP accepts what a strict
# consumer refuses (it decodes invalid UTF-8 leniently when given characters, and accepts
# duplicate keys), so the access-log tests read each line with this instead:
#   - the input is bytes and must be well-formed UTF-8 (RFC 3629: no overlong forms, no
#     surrogates, nothing above U+10FFFF);
#   - no raw control character in a string, only the escapes of RFC 8259 §7, no lone
#     surrogate escape; numbers in the RFC's grammar; no duplicate key in an object;
#   - exactly one value, with nothing after it but whitespace.
#
#   my $v = StrictJSON::decode($bytes);   # dies with "strict JSON: ... at byte N"
#
# Strings come back as Perl character strings.

use strict;
use warnings;

my $UTF8_CHAR = qr/
      [\x00-\x7F]
    | [\xC2-\xDF][\x80-\xBF]
    | \xE0[\xA0-\xBF][\x80-\xBF]
    | [\xE1-\xEC\xEE\xEF][\x80-\xBF]{2}
    | \xED[\x80-\x9F][\x80-\xBF]
    | \xF0[\x90-\xBF][\x80-\xBF]{2}
    | [\xF1-\xF3][\x80-\xBF]{3}
    | \xF4[\x80-\x8F][\x80-\xBF]{2}
/x;

sub decode {
    my ($bytes) = @_;
    die "strict JSON: undefined input\n" unless defined $bytes;
    die "strict JSON: input must be bytes\n" if utf8::is_utf8($bytes) && $bytes =~ /[^\x00-\xFF]/;
    if ($bytes !~ /\A$UTF8_CHAR*\z/) {
        $bytes =~ /\A$UTF8_CHAR*/;
        die sprintf "strict JSON: invalid UTF-8 at byte %d\n", $+[0];
    }
    my $text = $bytes;
    utf8::decode($text) or die "strict JSON: invalid UTF-8\n";
    pos($text) = 0;
    my $v = _value(\$text);
    _ws(\$text);
    _fail(\$text, 'text after the value') if pos($text) < length $text;
    return $v;
}

sub _fail {
    my ($t, $what) = @_;
    die sprintf "strict JSON: %s at character %d\n", $what, pos($$t) // 0;
}

sub _ws { ${ $_[0] } =~ /\G[ \t\n\r]*/gc }

sub _value {
    my ($t) = @_;
    _ws($t);
    return _object($t) if $$t =~ /\G\{/gc;
    return _array($t)  if $$t =~ /\G\[/gc;
    return _string($t) if $$t =~ /\G"/gc;
    return 0 + $1 if $$t =~ /\G(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)/gc;
    return 1 if $$t =~ /\Gtrue/gc;
    return 0 if $$t =~ /\Gfalse/gc;
    return undef if $$t =~ /\Gnull/gc;
    _fail($t, 'expected a value');
}

sub _object {
    my ($t) = @_;
    my %o;
    _ws($t);
    return \%o if $$t =~ /\G\}/gc;
    while (1) {
        _ws($t);
        $$t =~ /\G"/gc or _fail($t, 'expected a key');
        my $k = _string($t);
        _fail($t, "duplicate key \"$k\"") if exists $o{$k};
        _ws($t);
        $$t =~ /\G:/gc or _fail($t, 'expected ":"');
        $o{$k} = _value($t);
        _ws($t);
        next if $$t =~ /\G,/gc;
        return \%o if $$t =~ /\G\}/gc;
        _fail($t, 'expected "," or "}"');
    }
}

sub _array {
    my ($t) = @_;
    my @a;
    _ws($t);
    return \@a if $$t =~ /\G\]/gc;
    while (1) {
        push @a, _value($t);
        _ws($t);
        next if $$t =~ /\G,/gc;
        return \@a if $$t =~ /\G\]/gc;
        _fail($t, 'expected "," or "]"');
    }
}

my %ESC = ('"' => '"', '\\' => '\\', '/' => '/', b => "\b", f => "\f", n => "\n", r => "\r", t => "\t");

sub _string {
    my ($t) = @_;
    my $s = '';
    while (1) {
        if ($$t =~ /\G([^"\\\x00-\x1F]+)/gc) {
            $s .= $1;
        } elsif ($$t =~ /\G"/gc) {
            return $s;
        } elsif ($$t =~ /\G\\(["\\\/bfnrt])/gc) {
            $s .= $ESC{$1};
        } elsif ($$t =~ /\G\\u([0-9a-fA-F]{4})/gc) {
            my $cp = hex $1;
            if ($cp >= 0xD800 && $cp <= 0xDBFF) {
                $$t =~ /\G\\u([dD][c-fC-F][0-9a-fA-F]{2})/gc or _fail($t, 'lone high surrogate escape');
                $cp = 0x10000 + (($cp - 0xD800) << 10) + (hex($1) - 0xDC00);
            } elsif ($cp >= 0xDC00 && $cp <= 0xDFFF) {
                _fail($t, 'lone low surrogate escape');
            }
            $s .= chr $cp;
        } elsif ($$t =~ /\G[\x00-\x1F]/gc) {
            _fail($t, 'raw control character in a string');
        } else {
            _fail($t, $$t =~ /\G\\/gc ? 'bad escape' : 'unterminated string');
        }
    }
}

1;
