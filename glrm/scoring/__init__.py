"""Pure tensor score functions and the batching engine. No file I/O."""
