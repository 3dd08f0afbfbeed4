"""The project's error types: one base, caught once at the CLI edge (`cli/__init__.py`) and
shown as one line. Anything else that escapes is a bug and keeps its traceback.

Imports nothing from the project: every layer may raise these.
"""

from __future__ import annotations


class CharcompleteError(Exception):
    """A problem the user can fix (bad input, a damaged file, a missing device); one line."""


class ConfigError(CharcompleteError, ValueError):
    """A setting out of range (a model or training config, a command-line value)."""


class CorpusError(CharcompleteError):
    """Training or evaluation text that cannot be used."""


class CheckpointError(CharcompleteError):
    """A checkpoint (or resume file) that cannot be used."""


class DeviceError(CharcompleteError):
    """The asked-for device is not on this machine."""


class TrainingError(CharcompleteError):
    """Training could not go on (bad data, divergence)."""


class DistributedError(TrainingError):
    """A distributed run failed on one rank (lost peer, timeout)."""


class DocumentError(CharcompleteError):
    """A file the editor cannot open or save."""

    def __init__(self, message: str, kept=None):
        super().__init__(message)
        self.kept = kept  # a failed save: the file that holds the buffer's text (the message names it), else None


class CharcompleteWarning(RuntimeWarning):
    """Something set aside or not saved that the user should know of (an unreadable adaptation
    history); the CLI shows it as one plain line, without the source line Python adds."""


class TrainingInterrupted(Exception):
    """Stopped on request (Ctrl+C, SIGTERM, Cancel); `resume_path` continues the run."""

    def __init__(self, resume_path, step: int):
        super().__init__(f"interrupted at step {step}; resume with --resume {resume_path}")
        self.resume_path = resume_path
        self.step = step
