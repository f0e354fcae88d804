"""The course runner: executes lesson notebooks with papermill and reports on them (see `python -m runner -h`)."""
