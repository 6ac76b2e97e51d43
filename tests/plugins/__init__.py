"""pytest plugins of this test suite, registered with `-p` in pyproject.toml."""
