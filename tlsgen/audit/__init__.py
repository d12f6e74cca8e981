"""Read out/ without writing: verify it against the spec, and list what it holds."""
