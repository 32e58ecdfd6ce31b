/* home.h — where the project's data lives (configs/, results/): the one answer every library and
 * the program share. */
#ifndef RN_HOME_H
#define RN_HOME_H

/* $RN50_TUNE_HOME when set and not empty, else the source tree this library was built from.
 * The string is static: do not free it. */
const char *home_dir(void);

#endif
