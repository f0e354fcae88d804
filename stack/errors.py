class StackError(RuntimeError):
    """Something the learner can fix, said in one message: the CLI prints it without a traceback."""
