#!/usr/bin/perl
# sign_mail_dkim.pl — signs messages with Debian's Mail::DKIM
# (libmail-dkim-perl), for interop.sh's "foreign signers" part (the
# signatures are then verified by Sigil's dkim_verify_tool).  RSA only:
# Debian 12's Mail::DKIM has no Ed25519 (DESIGN.md §7).
#
#   sign_mail_dkim.pl JOBS
#   JOBS lines: IN<TAB>OUT<TAB>KEYFILE<TAB>DOMAIN<TAB>SELECTOR<TAB>ALG<TAB>CANON
#
# The message is signed as SMTP would carry it (line ends made CRLF, a final
# CRLF added when missing); OUT is the signature followed by that message.
# Mail::DKIM's default header list is used.
use strict;
use warnings;
use Mail::DKIM::Signer;

die "usage: sign_mail_dkim.pl JOBS\n" unless @ARGV == 1;
open my $jobs, '<', $ARGV[0] or die "sign_mail_dkim.pl: $ARGV[0]: $!\n";
while ( my $line = <$jobs> ) {
    chomp $line;
    my ( $in, $out, $keyfile, $domain, $selector, $alg, $canon ) = split /\t/, $line;
    die "sign_mail_dkim.pl: $alg: RSA only\n" unless $alg eq 'rsa-sha256';
    open my $fh, '<:raw', $in or die "sign_mail_dkim.pl: $in: $!\n";
    my $msg = do { local $/; <$fh> };
    close $fh;
    $msg =~ s/\r?\n/\r\n/g;
    $msg .= "\r\n" unless $msg =~ /\r\n\z/;
    my $signer = Mail::DKIM::Signer->new(
        Algorithm => $alg,
        Method    => $canon,
        Domain    => $domain,
        Selector  => $selector,
        KeyFile   => $keyfile,
    );
    $signer->PRINT($msg);
    $signer->CLOSE;
    my $sig = $signer->signature->as_string;
    $sig =~ s/\r?\n/\r\n/g;
    open my $o, '>:raw', $out or die "sign_mail_dkim.pl: $out: $!\n";
    print {$o} $sig, "\r\n", $msg;
    close $o;
}
