/* fast/install.c — fast_install: one install call per seam of the core. */
#include "fast/fast.h"

#include "data.h"
#include "fast/reader.h"

void fast_install(void) {
    data_use_reader(fast_read_ratings); /* the chunked reader, with the cache */
}
