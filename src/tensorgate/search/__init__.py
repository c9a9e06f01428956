"""Visual search: catalogue indexes of embeddings (faiss) and what a match answers."""
