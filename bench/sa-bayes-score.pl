#!/usr/bin/perl
# Scores messages with SpamAssassin's own Bayes classifier only (no other rules, no
# network): prints "probability<TAB>file" per message ("-" when Bayes gave none).
# Usage: sa-bayes-score.pl RULES_DIR BAYES_PATH FILE...
use strict;
use warnings;
use Mail::SpamAssassin;

my ($rules, $bayes_path, @files) = @ARGV;
my $sa = Mail::SpamAssassin->new({
    rules_filename      => $rules,
    site_rules_filename => $rules,
    userprefs_filename  => "$rules/user_prefs",
    dont_copy_prefs     => 1,
    local_tests_only    => 1,
    post_config_text    => "bayes_path $bayes_path\n",
});
$sa->init(1);
for my $f (@files) {
    open(my $fh, '<', $f) or die "$f: $!";
    local $/;
    my $text = <$fh>;
    close $fh;
    my $mail = $sa->parse($text);
    my $pms = $sa->check($mail);
    my $p = $pms->{bayes_score};
    print((defined $p ? sprintf('%.6f', $p) : '-'), "\t$f\n");
    $pms->finish;
    $mail->finish;
}
