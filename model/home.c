/* home.c — the project's data directory (see home.h). One definition, so the program, the cost
 * model's device profiles and the default model's weights cannot disagree on where configs/ is. */
#include "home.h"

#include <stdlib.h>

/* CMake defines RN_SOURCE_DIR for rn_model; a build without it looks in the working directory. */
#ifndef RN_SOURCE_DIR
#define RN_SOURCE_DIR "."
#endif

const char *home_dir(void)
{
    const char *h = getenv("RN50_TUNE_HOME");
    return h && *h ? h : RN_SOURCE_DIR;
}
