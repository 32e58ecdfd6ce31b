/* name_regex.c — the guard and the anchored compile of layer-name patterns (see name_regex.h).
 *
 * The guard walks the pattern once with the shape of POSIX ERE: alternatives of sequences of
 * atoms (a character, an escape, a bracket expression, a group), each optionally quantified. It
 * counts atoms the way glibc expands them: "x{m,n}" is n copies of x ("x{m,}" m+1), "x+" two
 * ("xx*"), so the count tracks the size of the automaton regcomp would build. Counts saturate just
 * above the limit so that nesting cannot overflow them. */
#include "name_regex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct guard {
    const char *p;     /* next character */
    char *why;
    size_t n;
    int failed;
};

static size_t sat_add(size_t a, size_t b)
{
    const size_t s = a + b;
    return s > NAME_REGEX_MAX_ATOMS ? NAME_REGEX_MAX_ATOMS + 1 : s;
}

static size_t sat_mul(size_t a, size_t b)
{
    if (a && b > (NAME_REGEX_MAX_ATOMS + 1) / a) return NAME_REGEX_MAX_ATOMS + 1;
    return sat_add(a * b, 0);
}

static void refuse(struct guard *g, const char *what)
{
    if (!g->failed) snprintf(g->why, g->n, "%s", what);
    g->failed = 1;
}

/* Skips a bracket expression starting at '[': "[]a]", "[^]a]" and "[[:alpha:]]" included. An
 * unterminated one is left for regcomp to reject. */
static void skip_bracket(struct guard *g)
{
    const char *p = g->p + 1;
    if (*p == '^') p++;
    if (*p == ']') p++;
    while (*p && *p != ']') {
        if (p[0] == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
            const char close = p[1];
            p += 2;
            while (*p && !(p[0] == close && p[1] == ']')) p++;
            if (*p) p += 2;
        } else {
            p++;
        }
    }
    if (*p == ']') p++;
    g->p = p;
}

/* Reads "{m}", "{m,}", "{m,n}" or "{,n}" (glibc reads the last as {0,n}) at g->p. Returns 1 and
 * the copies glibc makes (n, or m+1 when unbounded) when it is an interval; 0, with g->p
 * unchanged, when the brace is not one (regcomp then reads it as it will). */
static int read_interval(struct guard *g, size_t *copies)
{
    const char *p = g->p + 1;
    char *end;
    unsigned long m = 0;
    if (*p >= '0' && *p <= '9') {
        m = strtoul(p, &end, 10);
        p = end;
    } else if (*p != ',') {
        return 0;
    }
    unsigned long hi = m;
    if (*p == ',') {
        p++;
        if (*p >= '0' && *p <= '9') {
            hi = strtoul(p, &end, 10);
            p = end;
        } else {
            hi = m + 1;
        }
    }
    if (*p != '}') return 0;
    if (m > 255 || hi > 255) {
        refuse(g, "a repeat count above 255");
        hi = 255;
    }
    g->p = p + 1;
    *copies = hi ? hi : 1;
    return 1;
}

static size_t guard_alternation(struct guard *g, int depth);

/* One sequence of quantified atoms, up to '|', ')' or the end. */
static size_t guard_sequence(struct guard *g, int depth)
{
    size_t total = 0, last = 0;   /* last: the atoms of the most recent atom, 0 before the first */
    int quantified = 0;           /* the most recent atom already carries a quantifier */
    while (*g->p && *g->p != '|' && *g->p != ')' && !g->failed) {
        const char c = *g->p;
        size_t copies = 0;
        if (c == '*' || c == '+' || c == '?') {
            copies = c == '+' ? 2 : 1;
            g->p++;
        } else if (c == '{' && last && read_interval(g, &copies)) {
            /* copies set */
        }
        if (copies && last) {
            if (quantified) {
                refuse(g, "a quantifier applied to a quantifier (as in 'a**' or 'a+{2}')");
                break;
            }
            total = sat_add(total, sat_mul(last, copies - 1));
            last = sat_mul(last, copies);
            quantified = 1;
            continue;
        }
        size_t atom = 1;   /* a quantifier with nothing before it is an ordinary character */
        if (copies) {
            /* already consumed */
        } else if (c == '(') {
            g->p++;
            if (depth >= 32) {
                refuse(g, "groups nested more than 32 deep");
                break;
            }
            atom = guard_alternation(g, depth + 1);
            if (!atom && !g->failed) refuse(g, "an empty group '()'");
            if (*g->p == ')') g->p++;
        } else if (c == '[') {
            skip_bracket(g);
        } else if (c == '\\') {
            if (g->p[1] >= '1' && g->p[1] <= '9') {
                refuse(g, "a back-reference (\\1 to \\9)");
                break;
            }
            g->p += g->p[1] ? 2 : 1;
        } else {
            g->p++;
        }
        total = sat_add(total, atom);
        last = atom;
        quantified = 0;
    }
    return total;
}

/* Alternatives joined by '|'. An empty one ("a||b", "(|a)") is refused: a run of them inside a
 * quantified group made regcomp's epsilon-closure pass take minutes (found by fuzzing), and no
 * layer name needs one. Each '|' counts as an atom: it is a node of the automaton. */
static size_t guard_alternation(struct guard *g, int depth)
{
    size_t total = guard_sequence(g, depth);
    int empty = total == 0;
    while (*g->p == '|' && !g->failed) {
        g->p++;
        const size_t alt = guard_sequence(g, depth);
        empty |= alt == 0;
        total = sat_add(total, sat_add(alt, 1));
    }
    if (empty && total && !g->failed) refuse(g, "an empty alternative (as in 'a||b' or '(|a)')");
    return total;
}

int name_regex_guard(const char *pat, char *why, size_t n)
{
    struct guard g = { pat, why, n, 0 };
    if (n) why[0] = '\0';
    const size_t len = strlen(pat);
    if (len > NAME_REGEX_MAX_LEN) {
        snprintf(why, n, "%zu characters (at most %d)", len, NAME_REGEX_MAX_LEN);
        return 1;
    }
    size_t atoms = 0;
    while (*g.p && !g.failed) {
        atoms = sat_add(atoms, guard_alternation(&g, 0));
        if (*g.p == ')') g.p++;   /* an unmatched ')' is regcomp's to reject */
    }
    if (g.failed) return 1;
    if (atoms > NAME_REGEX_MAX_ATOMS) {
        snprintf(why, n, "its repeats expand to more than %d atoms", NAME_REGEX_MAX_ATOMS);
        return 1;
    }
    return 0;
}

int name_regex_compile(regex_t *re, const char *pat, char *why, size_t n)
{
    if (name_regex_guard(pat, why, n)) return 1;
    /* Anchor the whole alternation: "conv1|fc" must not match "layer1.0.conv1" through an
     * unanchored first branch (coremltools uses re.fullmatch). */
    const size_t len = strlen(pat) + 5;
    char *anchored = malloc(len);
    if (!anchored) {
        snprintf(why, n, "out of memory");
        return 1;
    }
    snprintf(anchored, len, "^(%s)$", pat);
    const int err = regcomp(re, anchored, REG_EXTENDED | REG_NOSUB);
    free(anchored);
    if (err) {
        regerror(err, re, why, n);
        return 1;
    }
    return 0;
}
