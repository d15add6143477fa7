"""Documents out: a batch or one video as PDF, Word, Markdown, JSON, CSV or a ZIP of them."""
