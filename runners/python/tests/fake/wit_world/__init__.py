"""A fake of the bindings componentize-py generates for the language-runner world."""


class WitWorld:
    pass
