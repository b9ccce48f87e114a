"""The task specs shipped with stilts (JSON, data only). Registered by plugins.builtin_specs."""
