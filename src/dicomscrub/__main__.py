"""Allow ``python -m dicomscrub``."""

from dicomscrub.cli import main

if __name__ == "__main__":
    main()
