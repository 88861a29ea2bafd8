"""kgraph's benchmarks: ``python -m bench run`` measures kgraph against reference endpoints."""
