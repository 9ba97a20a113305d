# Tests of the exact cache.
sobre_test(exact_key_test exact_key_test.cc sobre_cache)
sobre_test(exact_cache_test exact_cache_test.cc sobre_cache)
sobre_test(semantic_cache_test semantic_cache_test.cc sobre_cache)
