/* name_regex.h — layer-name patterns (POSIX extended regexes matched against a whole module name,
 * as coremltools' re.fullmatch does), compiled only after a guard has bounded their cost.
 *
 * Why a guard: glibc's regcomp builds an automaton whose size grows with the pattern's expansion,
 * and a hostile or mistyped pattern ("a++++…", "((a{255}){255}){255}") makes it take gigabytes and
 * minutes (found by fuzzing the search space and the compression config). Layer names are short
 * dotted identifiers; a pattern that needs more than this to describe them is refused with a reason
 * instead of being handed to regcomp. */
#ifndef RN_NAME_REGEX_H
#define RN_NAME_REGEX_H

#include <regex.h>
#include <stddef.h>

enum {
    NAME_REGEX_MAX_LEN = 4096,    /* characters of one pattern (our config writer joins many layer names with |) */
    NAME_REGEX_MAX_ATOMS = 8192,  /* atoms once every {m,n} is expanded to its upper bound */
};

/* 0 when PAT is within the bounds above, has no quantifier applied to a quantifier ("a**", "a+{2}")
 * and no back-reference ("\1"); otherwise non-zero with the reason written to WHY (N bytes).
 * Says nothing about syntax: regcomp judges that. */
int name_regex_guard(const char *pat, char *why, size_t n);

/* Guards PAT, then compiles "^(PAT)$" into RE (REG_EXTENDED | REG_NOSUB). 0 on success (free RE
 * with regfree); otherwise non-zero, RE left unallocated and the reason (the guard's or regerror's)
 * in WHY. */
int name_regex_compile(regex_t *re, const char *pat, char *why, size_t n);

#endif
