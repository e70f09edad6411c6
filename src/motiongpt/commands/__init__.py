"""The command line: argument parsing at the edge; each module registers its sub-commands and calls the library.

Nothing in the library imports from here."""
