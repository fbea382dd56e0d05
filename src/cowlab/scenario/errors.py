"""Errors in user input, located by file, line and field."""

from __future__ import annotations


class ScenarioError(ValueError):
    """Bad input: printed as one line ``FILE:LINE: FIELD: MESSAGE``."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.field = field

    def located(self, file: str | None = None, line: int | None = None) -> ScenarioError:
        """The same error with a file/line filled in where it had none."""
        return ScenarioError(
            self.message,
            file=self.file or file,
            line=self.line if self.line is not None else line,
            field=self.field,
        )

    def __str__(self) -> str:
        where = self.file or "<scenario>"
        if self.line is not None:
            where += f":{self.line}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"
