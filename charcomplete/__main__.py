"""`python -m charcomplete` runs the CLI."""

from charcomplete.cli import cli

if __name__ == "__main__":
    cli(prog_name="charcomplete")
