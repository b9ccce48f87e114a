"""Built-in stilts plugins. Each module is registered under the ``stilts.plugins`` entry-point
group in pyproject.toml, exactly as a third-party plugin package would register."""
