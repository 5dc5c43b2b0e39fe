/* libtcc from Debian's libtcc-dev (apt-get install libtcc-dev tcc). */
#include <libtcc.h>
