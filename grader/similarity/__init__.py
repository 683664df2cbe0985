"""Similarity across a cohort: code fingerprints of notebooks (``fingerprints``), the ranked pairs
found through an inverted index (``ranking``), the matching regions of one pair (``regions``), and
the gradebook side: whose notebooks to compare, the archive of earlier years (``service``, ``models``).

Pure in ``fingerprints``, ``ranking`` and ``regions``: no database, no files, and student code is
only ever tokenised, never run."""
