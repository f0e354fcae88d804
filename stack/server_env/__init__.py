"""Programs that run in the Letta server's virtual environment (.course/venv-server), started by the stack as
`python -m stack.server_env.<name>` from the repository root. They import nothing from the stack's other modules,
which run in .venv."""
