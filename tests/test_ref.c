/* tests/test_ref.c — the deep and neumf models against fixtures written by an
 * independent NumPy implementation (tests/ref/models_ref.py). */
#include "test.h"

void suite_ref(void) {}
