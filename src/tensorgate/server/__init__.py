"""The HTTP door: an ASGI app over the Engine, and a runner that serves it with uvicorn."""
