"""The command-line subcommands of main.py (import, demo, devices, tiles), each add_arguments + run."""
