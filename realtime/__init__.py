"""The real-time engine: audio I/O, lock-free ring buffers, worker threads, model sessions, the CLI."""
