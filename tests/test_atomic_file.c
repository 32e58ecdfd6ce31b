/* test_atomic_file.c — reading a text file whole (file_read_all): a file larger than the 1 MiB
 * buffer the search once read configs into comes back byte for byte, an empty one as no bytes,
 * and a missing one is STATUS_IO with a message that names the path. */
#include "check.h"
#include "atomic_file.h"
#include "status.h"
#include "strbuf.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_bytes(FILE *f, void *ctx)
{
    const struct strbuf *b = ctx;
    return fwrite(b->p ? b->p : "", 1, b->len, f) == b->len;
}

int main(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/rn_test_atomic_file_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char big[600], empty[600], missing[600];
    snprintf(big, sizeof big, "%s/big.yaml", dir);
    snprintf(empty, sizeof empty, "%s/empty.yaml", dir);
    snprintf(missing, sizeof missing, "%s/missing.yaml", dir);

    /* 1.5 MiB of numbered lines: every byte differs from its neighbours' pattern, so a lost or
     * repeated chunk shows. */
    struct strbuf want = { 0 };
    for (int i = 0; want.len < (3u << 19); i++) strbuf_printf(&want, "    layer%d: {n_bits: %d}\n", i, 1 + i % 8);
    CHECK(!want.oom);
    CHECK(file_write_atomic(big, write_bytes, &want) == STATUS_OK);
    struct strbuf got;
    CHECK(file_read_all(big, &got) == STATUS_OK);
    CHECK(got.len == want.len && got.p && memcmp(got.p, want.p, want.len) == 0 && got.p[got.len] == '\0');
    free(got.p);

    struct strbuf none = { 0 };
    CHECK(file_write_atomic(empty, write_bytes, &none) == STATUS_OK);
    CHECK(file_read_all(empty, &got) == STATUS_OK && got.len == 0);
    free(got.p);

    status_clear();
    CHECK(file_read_all(missing, &got) == STATUS_IO);
    CHECK(got.p == NULL && got.len == 0);
    CHECK(strstr(status_message(), missing) != NULL && strstr(status_message(), "cannot open") != NULL);

    free(want.p);
    unlink(big);
    unlink(empty);
    rmdir(dir);
    return check_summary();
}
