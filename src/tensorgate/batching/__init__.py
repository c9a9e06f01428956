"""Dynamic batching: the pure close-a-batch policy, the asyncio batcher, the device gate."""
