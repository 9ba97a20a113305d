# Tests of the semantic cache parts.
sobre_test(semantic_scope_test semantic_scope_test.cc sobre_cache)
sobre_test(semantic_guards_test semantic_guards_test.cc sobre_cache)
sobre_test(semantic_embedder_test semantic_embedder_test.cc sobre_cache)
sobre_test(semantic_index_test semantic_index_test.cc sobre_cache)
