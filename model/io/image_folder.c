/* image_folder.c — torchvision ImageFolder's listing, our splits of it, and the stratified
 * evaluation order (see image_folder.h). The listing follows torchvision 0.14's find_classes and
 * make_dataset as documented and as their source reads: os.scandir for the classes (is_dir()
 * follows symlinks), sorted(os.walk(class_dir, followlinks=True)) and sorted(file names) for the
 * files, a case-insensitive extension test. Python sorts str by code point, which is strcmp's
 * order on UTF-8 names. Not here: non-UTF-8 names (Python's surrogate escapes sort differently),
 * and cycles of symlinked folders (Python recurses until it fails; we stop with an error naming
 * the folder, see walk_dirs). */
#include "image_folder.h"

#include "atomic_file.h"
#include "rng.h"
#include "status.h"
#include "strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define IMAGE_FOLDER_MAX_DEPTH 32

static const char *const image_extensions[] = { ".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp" };

void image_list_free(struct image_list *l)
{
    if (!l) return;
    for (int64_t i = 0; i < l->n; i++) free(l->paths[i]);
    for (int c = 0; c < l->n_classes; c++) free(l->classes[c]);
    free(l->paths);
    free(l->labels);
    free(l->classes);
    memset(l, 0, sizeof *l);
}

static int has_image_extension(const char *name)
{
    const size_t n = strlen(name);
    for (size_t e = 0; e < sizeof image_extensions / sizeof image_extensions[0]; e++) {
        const size_t k = strlen(image_extensions[e]);
        if (n >= k && strcasecmp(name + n - k, image_extensions[e]) == 0) return 1;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *path_join(const char *a, const char *b)
{
    const size_t na = strlen(a), nb = strlen(b);
    char *p = malloc(na + nb + 2);
    if (!p) return NULL;
    memcpy(p, a, na);
    p[na] = '/';
    memcpy(p + na + 1, b, nb + 1);
    return p;
}

/* A growable array of strings. */
struct strv {
    char **v;
    int64_t n, cap;
};

static int strv_push(struct strv *s, char *p)
{
    if (!p) return status_error(STATUS_NOMEM, "out of memory");
    if (s->n == s->cap) {
        const int64_t cap = s->cap ? 2 * s->cap : 64;
        char **v = realloc(s->v, sizeof *v * (size_t)cap);
        if (!v) {
            free(p);
            return status_error(STATUS_NOMEM, "out of memory");
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = p;
    return STATUS_OK;
}

static void strv_free(struct strv *s)
{
    for (int64_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* Reads dir's entries into dirs (folders, symlinks to folders included) and files (everything
 * else os.walk calls a file: regular files, broken links, ...), each sorted. */
static int read_dir(const char *dir, struct strv *dirs, struct strv *files)
{
    DIR *d = opendir(dir);
    if (!d) return status_error(STATUS_IO, "%s: cannot read folder: %s", dir, strerror(errno));
    int rc = STATUS_OK;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char *full = path_join(dir, e->d_name);
        if (!full) {   /* not "a file": without the path we cannot tell */
            rc = status_error(STATUS_NOMEM, "out of memory");
            break;
        }
        struct stat st;
        const int is_dir = stat(full, &st) == 0 && S_ISDIR(st.st_mode);
        free(full);
        struct strv *to = is_dir ? dirs : files;
        if (to) rc = strv_push(to, strdup(e->d_name));
    }
    closedir(d);
    if (dirs && dirs->n) qsort(dirs->v, (size_t)dirs->n, sizeof *dirs->v, cmp_str);
    if (files && files->n) qsort(files->v, (size_t)files->n, sizeof *files->v, cmp_str);
    return rc;
}

/* Every folder under top (top included), as os.walk yields them, by path. Symlinked folders are
 * followed as os.walk(followlinks=True) does, with two guards Python lacks: a folder that is one
 * of its own ancestors (a symlink cycle; Python recurses until RecursionError) is an error naming
 * both paths, and so is a walk past IMAGE_FOLDER_MAX_WALK folders (links that fan out, each level
 * pointing twice at the next, multiply the folders without any cycle). */
#define IMAGE_FOLDER_MAX_WALK 100000
struct walk_frame {
    dev_t dev;
    ino_t ino;
};

static int walk_dirs_at(const char *top, int depth, struct walk_frame *anc, struct strv *out)
{
    if (depth > IMAGE_FOLDER_MAX_DEPTH)
        return status_error(STATUS_BAD_INPUT, "%s: folders nested deeper than %d", top, IMAGE_FOLDER_MAX_DEPTH);
    if (out->n >= IMAGE_FOLDER_MAX_WALK)
        return status_error(STATUS_BAD_INPUT, "%s: more than %d folders under one class (symlinked folders fanning out?)", top,
                            IMAGE_FOLDER_MAX_WALK);
    struct stat st;
    if (stat(top, &st) != 0) return status_error(STATUS_IO, "%s: cannot read folder: %s", top, strerror(errno));
    for (int i = 0; i < depth; i++)
        if (anc[i].dev == st.st_dev && anc[i].ino == st.st_ino)
            return status_error(STATUS_BAD_INPUT, "%s: a symlink cycle (this is the folder %d levels up)", top, depth - i);
    anc[depth] = (struct walk_frame){ st.st_dev, st.st_ino };
    int rc = strv_push(out, strdup(top));
    struct strv sub = { 0 };
    if (!rc) rc = read_dir(top, &sub, NULL);
    for (int64_t i = 0; !rc && i < sub.n; i++) {
        char *p = path_join(top, sub.v[i]);
        rc = p ? walk_dirs_at(p, depth + 1, anc, out) : status_error(STATUS_NOMEM, "out of memory");
        free(p);
    }
    strv_free(&sub);
    return rc;
}

static int walk_dirs(const char *top, struct strv *out)
{
    struct walk_frame anc[IMAGE_FOLDER_MAX_DEPTH + 1];
    return walk_dirs_at(top, 0, anc, out);
}

static int list_push(struct image_list *l, int64_t *cap, char *path, int64_t label)
{
    if (!path) return status_error(STATUS_NOMEM, "out of memory");
    if (l->n == *cap) {
        const int64_t c = *cap ? 2 * *cap : 256;
        char **p = realloc(l->paths, sizeof *p * (size_t)c);
        if (p) l->paths = p;
        int64_t *lb = p ? realloc(l->labels, sizeof *lb * (size_t)c) : NULL;
        if (lb) l->labels = lb;
        if (!p || !lb) {
            free(path);
            return status_error(STATUS_NOMEM, "out of memory");
        }
        *cap = c;
    }
    l->paths[l->n] = path;
    l->labels[l->n++] = label;
    return STATUS_OK;
}

int image_folder_scan(const char *root, struct image_list *out)
{
    memset(out, 0, sizeof *out);
    struct strv classes = { 0 }, dirs = { 0 }, files = { 0 };
    int64_t cap = 0;
    int rc = read_dir(root, &classes, NULL);
    if (rc) goto fail;
    if (classes.n == 0) {
        rc = status_error(STATUS_BAD_INPUT, "%s: no class folders (expected one subfolder per class, as torchvision's ImageFolder)", root);
        goto fail;
    }
    if (classes.n > 1000000) {
        rc = status_error(STATUS_BAD_INPUT, "%s: %lld class folders, expected at most 1000000", root, (long long)classes.n);
        goto fail;
    }
    for (int64_t c = 0; !rc && c < classes.n; c++) {
        char *cdir = path_join(root, classes.v[c]);
        if (!cdir) {
            rc = status_error(STATUS_NOMEM, "out of memory");
            break;
        }
        const int64_t before = out->n;
        rc = walk_dirs(cdir, &dirs);
        /* sorted(os.walk(...)) orders the folders by their path. */
        if (dirs.n) qsort(dirs.v, (size_t)dirs.n, sizeof *dirs.v, cmp_str);
        for (int64_t d = 0; !rc && d < dirs.n; d++) {
            rc = read_dir(dirs.v[d], NULL, &files);
            for (int64_t f = 0; !rc && f < files.n; f++)
                if (has_image_extension(files.v[f])) rc = list_push(out, &cap, path_join(dirs.v[d], files.v[f]), c);
            strv_free(&files);
        }
        strv_free(&dirs);
        if (!rc && out->n == before)
            rc = status_error(STATUS_BAD_INPUT,
                              "%s: class folder '%s' has no image file (expected .jpg, .jpeg, .png, .ppm, .bmp, .pgm, .tif, .tiff or .webp)",
                              root, classes.v[c]);
        free(cdir);
    }
    if (rc) goto fail;
    out->n_classes = (int)classes.n;
    out->classes = classes.v;
    return STATUS_OK;
fail:
    strv_free(&classes);
    strv_free(&dirs);
    strv_free(&files);
    image_list_free(out);
    return rc;
}

/* ---- splits ------------------------------------------------------------------------------ */

static void shuffle(int64_t *v, int64_t n, struct rng *g)
{
    for (int64_t i = n - 1; i > 0; i--) {
        const int64_t j = (int64_t)rng_below(g, (uint64_t)(i + 1));
        const int64_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* Per class: the indices of its images in l (sorted order), as one array with offsets. */
static int class_index(const struct image_list *l, int64_t **idx, int64_t **start)
{
    *idx = malloc(sizeof(int64_t) * (size_t)(l->n ? l->n : 1));
    *start = calloc((size_t)l->n_classes + 1, sizeof(int64_t));
    if (!*idx || !*start) {   /* the caller's pointers are left NULL: it frees them again */
        free(*idx);
        free(*start);
        *idx = *start = NULL;
        return status_error(STATUS_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < l->n; i++) (*start)[l->labels[i] + 1]++;
    for (int c = 0; c < l->n_classes; c++) (*start)[c + 1] += (*start)[c];
    int64_t *fill = malloc(sizeof(int64_t) * (size_t)l->n_classes);
    if (!fill) {
        free(*idx);
        free(*start);
        *idx = *start = NULL;
        return status_error(STATUS_NOMEM, "out of memory");
    }
    memcpy(fill, *start, sizeof(int64_t) * (size_t)l->n_classes);
    for (int64_t i = 0; i < l->n; i++) (*idx)[fill[l->labels[i]]++] = i;
    free(fill);
    return STATUS_OK;
}

int image_list_stratify(struct image_list *l, uint64_t seed)
{
    int64_t *idx, *start;
    int rc = class_index(l, &idx, &start);
    if (rc) return rc;
    struct rng g;
    rng_seed(&g, seed);
    int64_t *order = malloc(sizeof(int64_t) * (size_t)(l->n ? l->n : 1));
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)l->n_classes);
    char **paths = malloc(sizeof(char *) * (size_t)(l->n ? l->n : 1));
    int64_t *labels = malloc(sizeof(int64_t) * (size_t)(l->n ? l->n : 1));
    if (!order || !perm || !paths || !labels) {
        rc = status_error(STATUS_NOMEM, "out of memory");
        goto done;
    }
    int64_t longest = 0;
    for (int c = 0; c < l->n_classes; c++) {
        shuffle(idx + start[c], start[c + 1] - start[c], &g);
        if (start[c + 1] - start[c] > longest) longest = start[c + 1] - start[c];
    }
    int64_t k = 0;
    for (int64_t r = 0; r < longest; r++) {
        for (int c = 0; c < l->n_classes; c++) perm[c] = c;
        shuffle(perm, l->n_classes, &g);
        for (int c = 0; c < l->n_classes; c++)
            if (start[perm[c]] + r < start[perm[c] + 1]) order[k++] = idx[start[perm[c]] + r];
    }
    RN_ASSERT(k == l->n);
    for (int64_t i = 0; i < l->n; i++) {
        paths[i] = l->paths[order[i]];
        labels[i] = l->labels[order[i]];
    }
    free(l->paths);
    free(l->labels);
    l->paths = paths;
    l->labels = labels;
    paths = NULL;
    labels = NULL;
done:
    free(idx);
    free(start);
    free(order);
    free(perm);
    free(paths);
    free(labels);
    return rc;
}

/* Keeps the images of `all` whose flag equals `want`, moving their paths out of `all`. */
static int list_take(struct image_list *all, const unsigned char *flag, unsigned char want, struct image_list *out)
{
    int64_t cap = 0;
    for (int64_t i = 0; i < all->n; i++)
        if (flag[i] == want) {
            /* The path moves to out; on failure list_push has freed it, so all gives it up
             * either way (found by tests/fuzz/oom_driver.c: it was freed twice). */
            int rc = list_push(out, &cap, all->paths[i], all->labels[i]);
            all->paths[i] = NULL;
            if (rc) return rc;
        }
    return STATUS_OK;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

enum { PART_TRAIN, PART_VAL, PART_TEST };

int image_folder_split(const char *root, const char *split, int val_per_class, struct image_list *out,
                       const char **layout)
{
    memset(out, 0, sizeof *out);
    int part;
    if (split && strcmp(split, "train") == 0) part = PART_TRAIN;
    else if (split && strcmp(split, "val") == 0) part = PART_VAL;
    else if (split && strcmp(split, "test") == 0) part = PART_TEST;
    else return status_error(STATUS_BAD_INPUT, "unknown split '%s' (expected train, val or test)", split ? split : "(none)");
    RN_ASSERT(val_per_class >= 1);
    char *tdir = path_join(root, "train"), *vdir = path_join(root, "val");
    struct image_list all = { 0 }, other = { 0 };
    int64_t *idx = NULL, *start = NULL;
    unsigned char *flag = NULL;
    int rc = STATUS_OK;
    if (!tdir || !vdir) {
        rc = status_error(STATUS_NOMEM, "out of memory");
        goto done;
    }
    const int two = is_dir(tdir) && is_dir(vdir);
    *layout = two ? "ROOT/train and ROOT/val: test = ROOT/val, val = a stratified sample of ROOT/train"
                  : "one folder: train, val and test are stratified samples of it";
    if (two) {
        /* Both folders are listed so a class mismatch is an error whichever split is asked. */
        if ((rc = image_folder_scan(vdir, part == PART_TEST ? out : &other))) goto done;
        if ((rc = image_folder_scan(tdir, &all))) goto done;
        const struct image_list *v = part == PART_TEST ? out : &other;
        int same = v->n_classes == all.n_classes;
        for (int c = 0; same && c < all.n_classes; c++) same = strcmp(v->classes[c], all.classes[c]) == 0;
        if (!same) {
            rc = status_error(STATUS_BAD_INPUT, "%s: the class folders of train/ (%d) and val/ (%d) differ; expected the same names",
                              root, all.n_classes, v->n_classes);
            goto done;
        }
        if (part == PART_TEST) goto order;
    } else if ((rc = image_folder_scan(root, &all))) {
        goto done;
    }
    if ((rc = class_index(&all, &idx, &start))) goto done;
    flag = malloc((size_t)all.n);
    if (!flag) {
        rc = status_error(STATUS_NOMEM, "out of memory");
        goto done;
    }
    memset(flag, PART_TRAIN, (size_t)all.n);
    struct rng g;
    rng_seed(&g, IMAGE_FOLDER_SEED);
    for (int c = 0; c < all.n_classes; c++) {
        const int64_t n = start[c + 1] - start[c];
        int64_t n_val, n_test = 0;
        if (two) {
            n_val = n - 1 < val_per_class ? n - 1 : val_per_class;
            if (n_val < 1) {
                rc = status_error(STATUS_BAD_INPUT, "%s/train/%s: %lld image(s); holding out validation images needs at least 2", root,
                                  all.classes[c], (long long)n);
                goto done;
            }
        } else {
            if (n < 3) {
                rc = status_error(STATUS_BAD_INPUT, "%s/%s: %lld image(s); splitting one folder into train, val and test needs at least 3 per class",
                                  root, all.classes[c], (long long)n);
                goto done;
            }
            n_test = n / 5 > 1 ? n / 5 : 1;
            n_val = n / 5 < val_per_class ? n / 5 : val_per_class;
            if (n_val < 1) n_val = 1;
        }
        shuffle(idx + start[c], n, &g);
        for (int64_t i = 0; i < n_val; i++) flag[idx[start[c] + i]] = PART_VAL;
        for (int64_t i = 0; i < n_test; i++) flag[idx[start[c] + n_val + i]] = PART_TEST;
    }
    if ((rc = list_take(&all, flag, (unsigned char)part, out))) goto done;
    out->n_classes = all.n_classes;
    out->classes = all.classes;
    all.classes = NULL;
    all.n_classes = 0;
order:
    rc = image_list_stratify(out, IMAGE_FOLDER_SEED + 1u + (unsigned)part);
done:
    if (rc) image_list_free(out);
    image_list_free(&all);
    image_list_free(&other);
    free(tdir);
    free(vdir);
    free(idx);
    free(start);
    free(flag);
    return rc;
}

int image_list_write_tsv(const struct image_list *l, const char *path)
{
    struct strbuf b = { 0 };
    strbuf_printf(&b, "index\tlabel\tclass\tpath\n");
    for (int64_t i = 0; i < l->n; i++)
        strbuf_printf(&b, "%lld\t%lld\t%s\t%s\n", (long long)i, (long long)l->labels[i], l->classes[l->labels[i]], l->paths[i]);
    if (b.oom) {
        free(b.p);
        return status_error(STATUS_NOMEM, "out of memory");
    }
    int rc = file_write_atomic(path, file_write_strbuf, &b);
    free(b.p);
    return rc;
}
