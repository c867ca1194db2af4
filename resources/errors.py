"""Requests the platform refuses, by rule.

:class:`Refused` is raised where a request has no meaning (an unknown release, batch or
participant reference, a freeze date in the future, a setting with no such value): the
rule it breaks is ``rule``, the message is one line and names no participant value.
``ngrl`` prints ``<rule>: <message>`` and exits 2, with no traceback (one place:
``ngrl_assets/cli.py:main``). Domain errors that are refusals subclass it next to their
own kind (``class UnknownBatch(Refused, LookupError)``), so callers that catch the
domain kind still do. No imports: cheap for the command line to catch.
"""

from __future__ import annotations


class Refused(Exception):
    """A request refused by rule ``rule`` (a class attribute, or given)."""

    rule = "refused"

    def __init__(self, message: str, rule: str | None = None) -> None:
        super().__init__(message)
        if rule is not None:
            self.rule = rule

    def __str__(self) -> str:  # the message as given (KeyError's own str() quotes it)
        return str(self.args[0]) if self.args else self.rule

    def __reduce__(self):  # picklable with its rule (Dagster serialises step errors)
        return (type(self), (str(self), self.rule))
