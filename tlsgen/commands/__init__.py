"""One module per subcommand: each has HELP, EXAMPLE, add_arguments(parser) and run(args) -> exit code."""
