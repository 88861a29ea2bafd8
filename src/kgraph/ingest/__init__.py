"""From an authored facts file to provenance-carrying RDF in the store, safely.

``kgraph ingest`` is the only door into a source document's named graph:
load (line-numbered YAML) -> verify quotes and offsets -> compile to quads ->
check vocabulary and SHACL shapes -> atomically replace the graph. The
format is documented in ``docs/facts-format.md``.
"""

from __future__ import annotations

from .compile import Compiled, compile_document, compile_facts, fact_iri, quote_iri
from .coverage import Paragraph, coverage_report, paragraphs
from .facts import (
    DocumentSpec,
    FactsError,
    FactsFile,
    FactSpec,
    FactsProblem,
    QuoteRef,
    ResourceSpec,
    check_quote,
    load_facts,
)
from .pipeline import (
    IngestReport,
    Prepared,
    find_facts_files,
    ingest_data_dir,
    ingest_path,
    ingest_paths,
    prepare,
)
from .validate import (
    DEFAULT_ONTOLOGY_DIR,
    DEFAULT_SHAPES,
    Violation,
    check_vocabulary,
    ontology_files,
    to_rdflib,
    validate,
)

__all__ = [
    "DEFAULT_ONTOLOGY_DIR",
    "DEFAULT_SHAPES",
    "Compiled",
    "DocumentSpec",
    "FactSpec",
    "FactsError",
    "FactsFile",
    "FactsProblem",
    "IngestReport",
    "Paragraph",
    "Prepared",
    "QuoteRef",
    "ResourceSpec",
    "Violation",
    "check_quote",
    "check_vocabulary",
    "compile_document",
    "compile_facts",
    "coverage_report",
    "fact_iri",
    "find_facts_files",
    "ingest_data_dir",
    "ingest_path",
    "ingest_paths",
    "load_facts",
    "ontology_files",
    "paragraphs",
    "prepare",
    "quote_iri",
    "to_rdflib",
    "validate",
]
