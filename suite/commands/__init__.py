"""One module per `tradeoff-bench` subcommand, each with `register(subparsers)`."""
