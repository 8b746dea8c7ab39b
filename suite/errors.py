"""The one error type that the command line turns into a one-line message and exit code 2."""


class ConfigError(ValueError):
    """Bad user input: a plan, a case field, a data directory or a results file.

    The message is one line that names the problem and, where there are any, the valid choices.
    """


def choices_error(what: str, value: object, valid) -> ConfigError:
    """A ConfigError for `value` not being one of `valid`, listing the valid choices."""
    return ConfigError(f"unknown {what} {value!r}; valid choices: {', '.join(map(str, valid))}")
