"""`tradeoff-bench env`: the environment block and its fingerprint."""

from __future__ import annotations


def cmd_env(args) -> int:
    import json

    from suite.measure.environment import machine_info

    info = machine_info()
    print(json.dumps({"tradeoff_bench": info["tradeoff_bench"], "cpu": info["cpu"].get("brand_raw"),
                      "python": info["python_version"]}, indent=2))
    return 0


def register(sub) -> None:
    """Add the `env` subcommand."""
    sub.add_parser("env", help="print the environment and its fingerprint").set_defaults(func=cmd_env)
