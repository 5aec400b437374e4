"""``python -m oncoatlas``: the same as the ``oncoatlas`` command."""

from oncoatlas.cli import main

if __name__ == "__main__":
    main()
