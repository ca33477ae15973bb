"""A fake of the bindings componentize-py generates, for the SDK's tests."""


class WitWorld:
    pass
