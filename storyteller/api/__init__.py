"""The HTTP API: the original app's endpoints, byte-compatible, and what we add beside them."""
