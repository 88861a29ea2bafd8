"""W3C SPARQL test-suite runner for kgraph (``python -m tests.w3c``)."""
