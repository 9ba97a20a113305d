# Tests of the semantic cache parts.
