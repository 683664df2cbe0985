"""Students' notebooks outside the sandbox: which zip member is the notebook (``zip_members``),
reading it from a stored submission (``reading``), and rendering it for markers, sanitised
(``render``) and bounded in time and memory (``bounded``)."""
