"""The editor's messages, as dataclasses: what the model thread, the editor widget and the
training panel tell the app. Handlers are named after the class (`on_suggestion_ready`, ...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message


@dataclass
class SuggestionReady(Message):
    """A model answer (the editor drops stale ones; the app shows the rest in the status bar)."""

    generation: int  # the editor's generation it answers (an older one is dropped)
    suggestion: Any  # completion.Suggestion
    model_name: str  # the model that answered
    alternatives: list | None = None  # other Suggestions, when asked for (Alt+N / Alt+P)
    new: bool = field(default=False, init=False)  # set by the editor: a ghost the user had not seen yet


@dataclass
class SuggestionAccepted(Message):
    """The user took a suggestion (Tab: the whole of it; Ctrl+Right: a word)."""

    text: str  # what was inserted
    whole: bool  # the whole suggestion, not just its next word


@dataclass
class SuggestionFailed(Message):
    """The model raised while answering; the editor keeps working without a ghost."""

    error: str  # one line


@dataclass
class TrainingProgressed(Message):
    """A step or validation of a run started in the editor."""

    progress: Any  # trainer.Progress


@dataclass
class TrainingFinished(Message):
    """A run started in the editor ended: finished (with its Completer), failed or cancelled."""

    request: Any  # jobs.TrainRequest
    completer: Any = None  # the new model, loaded, when it finished
    outcome: Any = None  # jobs.TrainOutcome: the new and the old model on the held-out tail
    error: str | None = None  # one line, when it failed
    cancelled: bool = False  # stopped by the user (kept to be resumed)


@dataclass
class LearningChanged(Message):
    """What the document cache has learned changed (the whole buffer, neighbouring files)."""

    label: str  # for the status bar: "doc 40%", "doc + 23 files"
