#!/usr/bin/perl
# Writes the request corpus t/data/requests/: one NNN-name.http file per case holding the raw
# bytes of a request, and expected.txt with the status the request parser must give ("ok" for
# Complete). Run from the top of the tree after changing a case:
#
#     perl t/data/gen-requests.pl
#
# Every file in the directory is rewritten; t/unit/test_parser_corpus.cc checks them.
use strict;
use warnings;

my $dir = 't/data/requests';
-d $dir or die "$dir: not a directory (run from the top of the source tree)\n";

my $H = "Host: example.com\r\n";
my @cases = (
    # name, expected, bytes
    # --- requests that must parse
    ['ok-simple-get', 'ok', "GET / HTTP/1.1\r\n$H\r\n"],
    ['ok-post-content-length', 'ok',
        "POST /form HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello"],
    ['ok-post-chunked', 'ok',
        "POST /up HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"],
    ['ok-cl-surrounding-ows', 'ok', "POST / HTTP/1.1\r\n${H}Content-Length: \t 3 \t\r\n\r\nabc"],
    ['ok-http10-no-host', 'ok', "GET / HTTP/1.0\r\n\r\n"],
    ['ok-absolute-form', 'ok', "GET http://example.com/a?b HTTP/1.1\r\n$H\r\n"],
    ['ok-absolute-form-other-host', 'ok', "GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n"],
    ['method-lowercase', 400, "get / HTTP/1.1\r\n$H\r\n"],
    ['ok-connect-with-port', 'ok', "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"],
    ['ok-options-asterisk', 'ok', "OPTIONS * HTTP/1.1\r\n$H\r\n"],
    ['ok-expect-100-continue', 'ok',
        "PUT /f HTTP/1.1\r\n${H}Content-Length: 1\r\nExpect: 100-continue\r\n\r\n"],
    ['ok-leading-crlf', 'ok', "\r\n\r\nGET / HTTP/1.1\r\n$H\r\n"],
    ['ok-uri-at-limit', 'ok', "GET /" . ('a' x 8191) . " HTTP/1.1\r\n$H\r\n"],
    ['ok-100-headers', 'ok',
        "GET / HTTP/1.1\r\n$H" . join('', map { "X-H$_: v\r\n" } 1 .. 99) . "\r\n"],

    # --- Content-Length / Transfer-Encoding (request smuggling)
    ['cl-then-te', 400,
        "POST / HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG"],
    ['te-then-cl', 400,
        "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nG"],
    ['te-chunked-cl-zero', 400,
        "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n"],
    ['cl-duplicate-same', 400,
        "POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc"],
    ['cl-duplicate-differing', 400,
        "POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"],
    ['cl-list-same', 400, "POST / HTTP/1.1\r\n${H}Content-Length: 3, 3\r\n\r\nabc"],
    ['cl-plus-sign', 400, "POST / HTTP/1.1\r\n${H}Content-Length: +3\r\n\r\nabc"],
    ['cl-minus-sign', 400, "POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n"],
    ['cl-inner-space', 400, "POST / HTTP/1.1\r\n${H}Content-Length: 1 2\r\n\r\n"],
    ['cl-hex', 400, "POST / HTTP/1.1\r\n${H}Content-Length: 0x10\r\n\r\n"],
    ['cl-overflow', 400, "POST / HTTP/1.1\r\n${H}Content-Length: 18446744073709551616\r\n\r\n"],
    ['te-chunked-identity', 400,
        "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n"],
    ['te-identity-chunked', 501,
        "POST / HTTP/1.1\r\n${H}Transfer-Encoding: identity, chunked\r\n\r\n"],
    ['te-xchunked', 501, "POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n"],
    ['te-space-before-colon', 400, "POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n"],
    ['te-http10', 400, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
    ['te-chunked-twice', 400, "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n"],
    ['te-two-fields-chunked-first', 400,
        "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"],
    ['te-chunked-parameter', 400, "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked;x=1\r\n\r\n"],
    ['te-empty', 400, "POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n\r\n"],
    ['te-obs-fold', 400, "POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip,\r\n chunked\r\n\r\n"],

    # --- line endings and header syntax
    ['obs-fold', 400, "GET / HTTP/1.1\r\n${H}X-A: 1\r\n 2\r\n\r\n"],
    ['space-before-first-header', 400, "GET / HTTP/1.1\r\n $H\r\n"],
    ['bare-lf-request-line', 400, "GET / HTTP/1.1\n$H\r\n"],
    ['bare-lf-header', 400, "GET / HTTP/1.1\r\nHost: example.com\nX-A: 1\r\n\r\n"],
    ['bare-cr-header-value', 400, "GET / HTTP/1.1\r\n${H}X-A: 1\r2\r\n\r\n"],
    ['bare-cr-request-line', 400, "GET /\r HTTP/1.1\r\n$H\r\n"],
    ['nul-header-value', 400, "GET / HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n"],
    ['header-name-space', 400, "GET / HTTP/1.1\r\n${H}X A: 1\r\n\r\n"],
    ['header-name-non-tchar', 400, "GET / HTTP/1.1\r\n${H}X(A): 1\r\n\r\n"],

    # --- Host
    ['host-missing', 400, "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"],
    ['host-twice', 400, "GET / HTTP/1.1\r\n${H}Host: other.example\r\n\r\n"],
    ['host-userinfo', 400, "GET / HTTP/1.1\r\nHost: user\@example.com\r\n\r\n"],
    ['host-slash', 400, "GET / HTTP/1.1\r\nHost: example.com/a\r\n\r\n"],

    # --- request line
    ['version-1-2', 505, "GET / HTTP/1.2\r\n$H\r\n"],
    ['version-2-0', 505, "GET / HTTP/2.0\r\n$H\r\n"],
    ['version-lowercase', 400, "GET / http/1.1\r\n$H\r\n"],
    ['method-control-char', 400, "G\x01T / HTTP/1.1\r\n$H\r\n"],
    ['target-space', 400, "GET /a b HTTP/1.1\r\n$H\r\n"],
    ['target-fragment', 400, "GET /a#frag HTTP/1.1\r\n$H\r\n"],
    ['uri-too-long', 414, "GET /" . ('a' x 9000) . " HTTP/1.1\r\n$H\r\n"],
    ['connect-without-port', 400, "CONNECT example.com HTTP/1.1\r\n$H\r\n"],
    ['get-asterisk', 400, "GET * HTTP/1.1\r\n$H\r\n"],

    # --- limits and expectations
    ['too-many-headers', 431,
        "GET / HTTP/1.1\r\n$H" . join('', map { "X-H$_: v\r\n" } 1 .. 100) . "\r\n"],
    ['huge-header', 431, "GET / HTTP/1.1\r\n${H}X-Big: " . ('b' x 17000) . "\r\n\r\n"],
    ['expect-other', 417, "GET / HTTP/1.1\r\n${H}Expect: something-else\r\n\r\n"],
);

opendir(my $dh, $dir) or die "$dir: $!\n";
unlink map { "$dir/$_" } grep { /\.http$/ } readdir $dh;
closedir $dh;

open(my $exp, '>', "$dir/expected.txt") or die "$dir/expected.txt: $!\n";
print $exp "# file status  (written by t/data/gen-requests.pl; checked by test_parser_corpus.cc)\n";
my $n = 0;
for my $c (@cases) {
    my ($name, $status, $bytes) = @$c;
    my $file = sprintf('%03d-%s.http', ++$n, $name);
    open(my $fh, '>:raw', "$dir/$file") or die "$dir/$file: $!\n";
    print $fh $bytes;
    close $fh or die "$dir/$file: $!\n";
    print $exp "$file $status\n";
}
close $exp or die "$dir/expected.txt: $!\n";
print "$n cases written to $dir\n";
