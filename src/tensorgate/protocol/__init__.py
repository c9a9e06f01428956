"""V2 (Open Inference Protocol) types and codecs: pure functions over bytes and arrays."""
