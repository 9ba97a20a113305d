# Tests of the exact cache.
