/* version.c: cs_version(), the version of the library a program runs with. */
#include "curvscope/version.h"

const char *cs_version(void) { return CURVSCOPE_VERSION_STRING; }
