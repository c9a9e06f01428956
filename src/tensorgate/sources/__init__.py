"""Where images come from: bytes, files, and (guarded) URLs."""
