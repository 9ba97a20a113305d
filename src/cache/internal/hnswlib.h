// hnswlib (Debian's libhnswlib-dev 0.6.2) with its warnings silenced. Include from exactly one .cc:
// the 0.6.2 header defines non-inline functions (cpuid, xgetbv), so a second includer would break
// the link.
#ifndef SOBRE_CACHE_INTERNAL_HNSWLIB_H_
#define SOBRE_CACHE_INTERNAL_HNSWLIB_H_

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-variable"
#include <hnswlib/hnswlib.h>
#pragma GCC diagnostic pop

#endif  // SOBRE_CACHE_INTERNAL_HNSWLIB_H_
