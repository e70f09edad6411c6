"""User-facing errors: the CLI prints them as one line and exits non-zero, without a traceback."""


class MotionGPTError(Exception):
    """Bad input or state the user can fix; the message names the file, line, joint or value at fault."""
