/* yaml_load.c — limits, then libyaml (see yaml_load.h). */
#include "yaml_load.h"

#include "status.h"

static int syntax_error(const yaml_parser_t *p, const char *path)
{
    return status_error(STATUS_BAD_INPUT, "%s:%zu: YAML syntax error: %s", path, p->problem_mark.line + 1,
                        p->problem ? p->problem : "unknown");
}

static int too_large(const char *path, const char *what, long size)
{
    return status_error(STATUS_BAD_INPUT, "%s: %s of %ld bytes is over the limit of %ld bytes for YAML files", path, what,
                        size, YAML_MAX_BYTES);
}

/* A stream that cannot seek (a pipe, /dev/stdin) is read once into a temporary file, up to one
 * byte past the limit, so that it can be read twice. */
static int make_seekable(FILE **fp, const char *path, const char *what)
{
    FILE *t = tmpfile();
    if (!t) return status_error(STATUS_IO, "%s: cannot buffer %s: no temporary file", path, what);
    char buf[1 << 16];
    long total = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, *fp)) > 0) {
        total += (long)n;
        if (total > YAML_MAX_BYTES) {
            fclose(t);
            return too_large(path, what, total);
        }
        if (fwrite(buf, 1, n, t) != n) {
            fclose(t);
            return status_error(STATUS_IO, "%s: cannot buffer %s", path, what);
        }
    }
    if (ferror(*fp)) {
        fclose(t);
        return status_error(STATUS_IO, "%s: cannot read %s", path, what);
    }
    fclose(*fp);
    *fp = t;
    return STATUS_OK;
}

int yaml_check_limits(FILE **fp, const char *path, const char *what)
{
    int rc = STATUS_OK;
    if (fseek(*fp, 0, SEEK_END) != 0 && ((rc = make_seekable(fp, path, what)) || fseek(*fp, 0, SEEK_END) != 0))
        return rc ? rc : status_error(STATUS_IO, "%s: cannot read %s", path, what);
    FILE *f = *fp;
    const long size = ftell(f);
    rewind(f);
    if (size < 0) return status_error(STATUS_IO, "%s: cannot read %s", path, what);
    if (size > YAML_MAX_BYTES) return too_large(path, what, size);
    /* Events arrive as the scanner reaches them, so stopping at the first level too deep reads
     * only that far: a deep file costs no more than a legal one. */
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return status_error(STATUS_NOMEM, "%s: out of memory", path);
    yaml_parser_set_input_file(&p, f);
    int depth = 0;
    rc = STATUS_OK;
    for (;;) {
        yaml_event_t ev;
        /* A syntax error is the reader's to report, in its own words, when it loads. */
        if (!yaml_parser_parse(&p, &ev)) break;
        const yaml_event_type_t type = ev.type;
        const size_t line = ev.start_mark.line + 1;
        yaml_event_delete(&ev);
        if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) depth++;
        if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) depth--;
        if (depth > YAML_MAX_DEPTH) {
            rc = status_error(STATUS_BAD_INPUT, "%s:%zu: %s nested deeper than %d levels (the limit for YAML files)", path,
                              line, what, YAML_MAX_DEPTH);
            break;
        }
        if (type == YAML_STREAM_END_EVENT) break;
    }
    yaml_parser_delete(&p);
    rewind(f);
    return rc;
}

int yaml_load_one(FILE **fp, const char *path, const char *what, yaml_document_t *doc)
{
    int rc = yaml_check_limits(fp, path, what);
    if (rc) return rc;
    FILE *f = *fp;
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return status_error(STATUS_NOMEM, "%s: out of memory", path);
    yaml_parser_set_input_file(&p, f);
    if (!yaml_parser_load(&p, doc)) {
        rc = syntax_error(&p, path);
        yaml_parser_delete(&p);
        return rc;
    }
    yaml_document_t extra;
    if (!yaml_parser_load(&p, &extra)) {
        rc = syntax_error(&p, path);
    } else {
        if (yaml_document_get_root_node(&extra))
            rc = status_error(STATUS_BAD_INPUT, "%s:%zu: a second YAML document; a %s is one document", path,
                              extra.start_mark.line + 1, what);
        yaml_document_delete(&extra);
    }
    if (rc) yaml_document_delete(doc);
    yaml_parser_delete(&p);
    return rc;
}
