"""Built-in tasktypes plugins."""
