#!/usr/bin/perl
# verify_mail_dkim.pl — verifies every DKIM signature of each file with
# Debian's Mail::DKIM (libmail-dkim-perl) and prints one line per signature,
# for interop.sh.
#
#   verify_mail_dkim.pl [--dns ADDR] FILE...
#   -> FILE<TAB>INDEX<TAB>d<TAB>s<TAB>a<TAB>RESULT<TAB>DETAIL
#
# RESULT is pass, fail, permerror, temperror, unsupported (Mail::DKIM's
# "invalid (unsupported algorithm ...)", e.g. Ed25519 on Debian 12, which
# lacks Crypt::PK::Ed25519 — DESIGN.md §7) or none.  Keys are fetched with
# REAL DNS: a Net::DNS::Resolver asking ADDR (default 127.0.0.1, the dnsmasq
# that interop.sh runs inside its private network namespace) on port 53,
# installed with Mail::DKIM::DNS::resolver().
use strict;
use warnings;
use Mail::DKIM::DNS;
use Mail::DKIM::Verifier;
use Net::DNS::Resolver;

my $addr = '127.0.0.1';
if ( @ARGV >= 2 && $ARGV[0] eq '--dns' ) {
    $addr = $ARGV[1];
    splice @ARGV, 0, 2;
}
die "usage: verify_mail_dkim.pl [--dns ADDR] FILE...\n" unless @ARGV;

my $res = Net::DNS::Resolver->new(
    nameservers => [$addr],
    port        => 53,
    recurse     => 1,
    udp_timeout => 3,
    tcp_timeout => 3,
    retry       => 2,
);
Mail::DKIM::DNS::resolver($res);

sub one_line {
    my ($s) = @_;
    $s = '' unless defined $s;
    $s =~ s/\s+/ /g;
    return $s;
}

for my $path (@ARGV) {
    open( my $fh, '<:raw', $path ) or die "verify_mail_dkim.pl: cannot read $path: $!\n";
    local $/;
    my $msg = <$fh>;
    close $fh;

    my $dkim = Mail::DKIM::Verifier->new();
    $dkim->PRINT($msg);
    $dkim->CLOSE;

    my @sigs = $dkim->signatures;
    if ( !@sigs ) {
        printf "%s\t-\t-\t-\t-\tnone\t%s\n", $path, one_line( $dkim->result_detail );
        next;
    }
    my $i = 0;
    for my $sig (@sigs) {
        my $r      = $sig->result // 'none';
        my $detail = one_line( $sig->result_detail );
        my $result =
            $r eq 'pass'                            ? 'pass'
          : $r eq 'fail'                            ? 'fail'
          : $r eq 'temperror'                       ? 'temperror'
          : $detail =~ /unsupported algorithm/      ? 'unsupported'
          : $detail =~ /public key: unsupported key type/ ? 'unsupported'
          :                                           'permerror';
        printf "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", $path, $i,
          one_line( $sig->domain ), one_line( $sig->selector ),
          one_line( $sig->algorithm ), $result, $detail;
        $i++;
    }
}
exit 0;
