# Tests of the OpenAI API layer.
