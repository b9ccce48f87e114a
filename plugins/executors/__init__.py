"""Built-in executors (``stilts run --executor NAME``)."""
