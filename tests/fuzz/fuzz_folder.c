/* fuzz_folder.c — image_folder_split and image_folder_scan (model/io/image_folder.c), the
 * ImageFolder listing, on hostile trees. The input describes a tree, one entry a line: "d PATH"
 * a folder, "f PATH" an empty file, "l PATH>TARGET" a symlink (TARGET may climb with ..); paths
 * keep [a-z0-9._/] and lose "..", at most 48 entries. The tree is built afresh under a
 * per-process folder, listed as each split would list it, and removed. Symlink cycles and
 * fan-outs are the point (the walk must end with an error, not run forever). */
#define _XOPEN_SOURCE 700
#include "fuzz_util.h"
#include "image_folder.h"

#include <ftw.h>
#include <sys/stat.h>

static char tree_root[300];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void clean_path(const char *in, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        const char c = in[i];
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '/' || c == '.') out[k++] = c;
    }
    out[k] = 0;
    for (char *p; (p = strstr(out, ".."));) memmove(p, p + 2, strlen(p + 2) + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tree_root[0]) snprintf(tree_root, sizeof tree_root, "%s.tree", fuzz_input_path(""));
    nftw(tree_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (mkdir(tree_root, 0777) != 0) return 0;
    const char *s = (const char *)data, *end = s + size;
    for (int entries = 0; s < end && entries < 48; entries++) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        if (e - s >= 3 && s[1] == ' ') {
            const char kind = s[0];
            const char *arrow = kind == 'l' ? memchr(s + 2, '>', (size_t)(e - s - 2)) : NULL;
            char rel[200], target[200] = "", path[512];
            clean_path(s + 2, (size_t)((arrow ? arrow : e) - s - 2), rel, sizeof rel);
            if (arrow) {   /* the target may climb: keep its ".." but no absolute path */
                size_t k = 0;
                for (const char *t = arrow + 1; t < e && k + 1 < sizeof target; t++)
                    if ((*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') || *t == '.' || *t == '/') target[k++] = *t;
                target[k] = 0;
                while (target[0] == '/') memmove(target, target + 1, strlen(target));
            }
            snprintf(path, sizeof path, "%s/%s", tree_root, rel);
            if (rel[0] && kind == 'd') mkdir(path, 0777);
            else if (rel[0] && kind == 'f') {
                FILE *f = fopen(path, "wb");
                if (f) fclose(f);
            } else if (rel[0] && kind == 'l' && target[0]) {
                if (symlink(target, path)) { /* an existing name or a missing folder: skip */ }
            }
        }
        s = nl ? nl + 1 : end;
    }
    static const char *const splits[3] = { "train", "val", "test" };
    for (int i = 0; i < 3; i++) {
        struct image_list l = { 0 };
        const char *layout = NULL;
        status_clear();
        fuzz_check_status(image_folder_split(tree_root, splits[i], 1 + i, &l, &layout), "image_folder_split");
        image_list_free(&l);
    }
    struct image_list l = { 0 };
    status_clear();
    fuzz_check_status(image_folder_scan(tree_root, &l), "image_folder_scan");
    image_list_free(&l);
    nftw(tree_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
