"""Runtimes run a model on a device: ``Runtime.infer(Tensors) -> Tensors``."""
