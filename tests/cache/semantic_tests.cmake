# Tests of the semantic cache parts.
sobre_test(semantic_scope_test semantic_scope_test.cc sobre_cache)
sobre_test(semantic_guards_test semantic_guards_test.cc sobre_cache)
sobre_test(semantic_embedder_test semantic_embedder_test.cc sobre_cache)
sobre_test(semantic_index_test semantic_index_test.cc sobre_cache)
sobre_test(evaluation_test evaluation_test.cc sobre_cache)
sobre_cli_test(bench_cache_cli_test bench_cache_cli_test.cc sobre_core)
target_compile_definitions(bench_cache_cli_test PRIVATE
  FAKE_UPSTREAM="$<TARGET_FILE:fake_openai_upstream>")
add_dependencies(bench_cache_cli_test fake_openai_upstream)
