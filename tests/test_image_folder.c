/* test_image_folder.c — the folder walk's guards against hostile trees (model/io/image_folder.c),
 * which torchvision's os.walk(followlinks=True) lacks: a symlink cycle is an error naming the
 * folder, not an endless walk; links fanning out (each level pointing twice at the next, 2^21
 * folders without a cycle) stop at the walk limit; a plain tree still lists as ImageFolder does. */
#include "check.h"
#include "image_folder.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];

static void make(const char *rel, int dir)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    if (dir) CHECK(mkdir(p, 0777) == 0);
    else {
        FILE *f = fopen(p, "wb");
        CHECK(f != NULL);
        if (f) fclose(f);
    }
}

static void link_to(const char *target, const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    CHECK(symlink(target, p) == 0);
}

int main(void)
{
    snprintf(root, sizeof root, "%s/rn-folder-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    CHECK(mkdtemp(root) != NULL);

    /* Plain: two classes, sorted, files in sorted order, a non-image ignored. */
    make("plain", 1);
    make("plain/b", 1);
    make("plain/a", 1);
    make("plain/a/2.png", 0);
    make("plain/a/1.JPG", 0);
    make("plain/a/notes.txt", 0);
    make("plain/b/x.jpeg", 0);
    char p[512];
    snprintf(p, sizeof p, "%s/plain", root);
    struct image_list l = { 0 };
    CHECK(image_folder_scan(p, &l) == STATUS_OK);
    CHECK(l.n == 3 && l.n_classes == 2);
    if (l.n == 3) {
        CHECK(strcmp(l.classes[0], "a") == 0 && l.labels[0] == 0 && l.labels[2] == 1);
        CHECK(strstr(l.paths[0], "a/1.JPG") && strstr(l.paths[1], "a/2.png") && strstr(l.paths[2], "b/x.jpeg"));
    }
    image_list_free(&l);

    /* A cycle: a class folder holding a link to itself. */
    make("cycle", 1);
    make("cycle/a", 1);
    make("cycle/a/1.png", 0);
    link_to(".", "cycle/a/again");
    snprintf(p, sizeof p, "%s/cycle", root);
    memset(&l, 0, sizeof l);
    CHECK(image_folder_scan(p, &l) == STATUS_BAD_INPUT);
    CHECK(strstr(status_message(), "cycle/a/again: a symlink cycle") != NULL);
    image_list_free(&l);

    /* A fan-out: level k holds two links to level k+1, 21 levels deep. */
    make("fan", 1);
    make("fan/a", 1);
    make("fan/a/1.png", 0);
    char rel[64], target[64];
    for (int k = 0; k <= 21; k++) {
        snprintf(rel, sizeof rel, "fan/l%d", k);
        make(rel, 1);
    }
    for (int k = 0; k < 21; k++)
        for (int j = 0; j < 2; j++) {
            snprintf(rel, sizeof rel, "fan/l%d/%c", k, 'x' + j);
            snprintf(target, sizeof target, "../l%d", k + 1);
            link_to(target, rel);
        }
    link_to("../l0", "fan/a/down");
    snprintf(p, sizeof p, "%s/fan", root);
    memset(&l, 0, sizeof l);
    /* The l* folders are classes too; the walk of class a (and of l0) hits the limit. */
    CHECK(image_folder_scan(p, &l) == STATUS_BAD_INPUT);
    CHECK(strstr(status_message(), "folders under one class") != NULL);
    image_list_free(&l);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
    return check_summary();
}
