"""Where uploaded bytes live: local disk, content-addressed (object storage later)."""
