# Tests of the HTTP server.
sobre_test(http_server_test http_server_test.cc sobre_gateway)
target_sources(http_server_test PRIVATE http_test_client.cc)
sobre_test(http_server_tls_test http_server_tls_test.cc sobre_gateway)
target_sources(http_server_tls_test PRIVATE http_test_client.cc)
