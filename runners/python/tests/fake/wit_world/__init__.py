"""A fake of the bindings componentize-py generates for the runner world."""


class WitWorld:
    pass
