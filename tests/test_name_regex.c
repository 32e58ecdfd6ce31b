/* test_name_regex.c — the guard in front of regcomp (model/name_regex.c): the patterns a user
 * writes for torchvision layer names pass and match whole names only; the shapes that made glibc's
 * regcomp take gigabytes (found by fuzzing) are refused with the reason; the largest pattern the
 * guard lets through still compiles within a bounded amount of memory. */
#include "check.h"
#include "name_regex.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

static void accept(const char *pat, const char *hit, const char *miss)
{
    char why[128];
    regex_t re;
    const int rc = name_regex_compile(&re, pat, why, sizeof why);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "  '%s' refused: %s\n", pat, why);
        return;
    }
    CHECK(regexec(&re, hit, 0, NULL, 0) == 0);
    if (miss) CHECK(regexec(&re, miss, 0, NULL, 0) != 0);
    regfree(&re);
}

static void refuse(const char *pat, const char *reason)
{
    char why[128];
    regex_t re;
    const int rc = name_regex_compile(&re, pat, why, sizeof why);
    CHECK(rc != 0);
    if (rc == 0) {
        fprintf(stderr, "  '%.60s' accepted\n", pat);
        regfree(&re);
        return;
    }
    CHECK(strstr(why, reason) != NULL);
    if (!strstr(why, reason)) fprintf(stderr, "  '%.60s': got '%s', want '%s'\n", pat, why, reason);
}

int main(void)
{
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    /* What users write; anchored as re.fullmatch is. */
    accept("layer1\\.0\\.conv1", "layer1.0.conv1", "layer1.0.conv10");
    accept("conv1|fc", "fc", "layer1.0.conv1");
    accept("layer[1-4]\\..*", "layer3.2.bn1", "xlayer3.2");
    accept("(layer1|layer2)\\.[0-9]+\\.downsample\\.0", "layer2.0.downsample.0", "layer3.0.downsample.0");
    accept("layer4\\.[0-2]\\.conv[1-3]", "layer4.2.conv3", NULL);
    accept("[[:alpha:]]+[0-9]?", "fc", "fc12");
    accept("[]a]*x", "]a]x", NULL);
    accept("a{2,3}", "aaa", "aaaa");
    accept("a{2,}b", "aaaaab", "ab");
    accept("a{,3}", "aaa", "aaaa");
    /* The escaped names our config writer emits (every ERE special behind a backslash). */
    accept("x\\[1\\]\\{2\\}\\*\\?\\^\\$\\\\", "x[1]{2}*?^$\\", NULL);
    /* 64 x 64 = 4096 atoms, half the most the guard lets through. */
    static char a4096[4097];
    memset(a4096, 'a', 4096);
    accept("(a{64}){64}", a4096, "aaa");

    /* The fuzzer's inputs and their relatives. */
    refuse("la++++++++++++++++++++++++++++++++++++++++++ye[\r2.0-4]+\\.conv[0-9]", "a quantifier applied to a quantifier");
    refuse("'++++++++++++++++++++++++++++++++++++++++++++", "a quantifier applied to a quantifier");
    refuse("a**", "a quantifier applied to a quantifier");
    refuse("a+{2}", "a quantifier applied to a quantifier");
    refuse("(ab){3}?", "a quantifier applied to a quantifier");
    refuse("a{256}", "a repeat count above 255");
    refuse("a{1,300}", "a repeat count above 255");
    refuse("(a{,200}){,200}", "expand to more than");   /* glibc: 121 s and 4.7 GB, measured */
    refuse("a{,300}", "a repeat count above 255");
    refuse("((a{100}){100})", "expand to more than");
    refuse("(((a{21}){21}){21})", "expand to more than");
    refuse("(conv)\\1", "a back-reference");
    refuse("la+w(((((ww|wwww||||||||||||wwww)+", "an empty alternative");
    refuse("conv1||fc", "an empty alternative");
    refuse("(|fc)", "an empty alternative");
    refuse("fc|", "an empty alternative");
    refuse("fc()", "an empty group");
    /* Each '+' doubles what it repeats ("x+" is "xx*" to glibc): twenty nested ones are 2^20 copies
     * (32 took glibc past 24 GB, measured); twenty nested '*' stay one copy and compile at once. */
    char nest[128] = "a";
    for (int i = 0; i < 20; i++) {
        char tmp[128];
        snprintf(tmp, sizeof tmp, "(%s+)", nest);
        snprintf(nest, sizeof nest, "%s", tmp);
    }
    refuse(nest, "expand to more than");
    snprintf(nest, sizeof nest, "a");
    for (int i = 0; i < 20; i++) {
        char tmp[128];
        snprintf(tmp, sizeof tmp, "(%s*)", nest);
        snprintf(nest, sizeof nest, "%s", tmp);
    }
    accept(nest, "aaa", "b");
    char deep[80] = { 0 };
    for (int i = 0; i < 34; i++) deep[i] = '(';
    refuse(deep, "nested more than 32 deep");
    char longpat[NAME_REGEX_MAX_LEN + 2];
    memset(longpat, 'a', sizeof longpat - 1);
    longpat[sizeof longpat - 1] = '\0';
    refuse(longpat, "characters (at most");
    /* Syntax is regcomp's: its message comes back. */
    refuse("layer[1", "");

    /* The guard's bound is what keeps memory bounded: with the worst accepted shapes the whole
     * test peaks under 64 MB above where it started (ru_maxrss is in kB). */
    static const char *const worst[] = { "(a{90}){90}", "(.{90}){90}", "([a-z]{16}|b{16}){128}", "(a+b+c+){255}",
                                         "(a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p)+(a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p){200}" };
    for (size_t i = 0; i < sizeof worst / sizeof *worst; i++) {
        char why[128];
        regex_t re;
        const int rc = name_regex_compile(&re, worst[i], why, sizeof why);
        CHECK(rc == 0);
        if (rc == 0) regfree(&re);
        else fprintf(stderr, "  '%s' refused: %s\n", worst[i], why);
    }
    getrusage(RUSAGE_SELF, &after);
    CHECK(after.ru_maxrss - before.ru_maxrss < 64 * 1024);
    fprintf(stderr, "  worst accepted patterns: peak RSS grew by %ld kB\n", after.ru_maxrss - before.ru_maxrss);
    return check_summary();
}
