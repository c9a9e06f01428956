"""Image decode and preprocessing, driven by a model's preprocess spec."""
