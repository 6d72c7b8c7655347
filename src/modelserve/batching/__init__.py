"""Server-side dynamic batching: merge concurrent compatible requests into one model call."""
