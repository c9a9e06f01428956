"""The model repository: config.yaml manifests, versioned model directories."""
