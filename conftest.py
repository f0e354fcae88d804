"""Repository-wide pytest setup: the lessons in notebooks/ are tests, run by the course runner."""

pytest_plugins = ["runner.pytest_plugin"]
