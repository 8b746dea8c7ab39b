"""The one error type that the command line turns into a one-line message and exit code 2."""


class ConfigError(ValueError):
    """Bad user input: a plan, a case field, a data directory or a results file.

    The message is one line that names the problem and, where there are any, the valid choices.
    """


def choices_error(what: str, value: object, valid) -> ConfigError:
    """A ConfigError for `value` not being one of `valid`, listing the valid choices."""
    return ConfigError(f"unknown {what} {shown(value)}; valid choices: {', '.join(map(str, valid))}")


def shown(value, limit: int = 60) -> str:
    """A value for a one-line message: its repr, cut to `limit` characters (a 5,000-digit value is not echoed)."""
    try:
        text = repr(value)
    except ValueError:  # an int beyond Python's 4,300-digit str() limit
        text = f"an integer of about {int(value.bit_length() * 0.30103):,} digits"
    return text if len(text) <= limit else text[: limit - 3] + "..."
