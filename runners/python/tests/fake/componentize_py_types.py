"""The ``Err`` componentize-py's bindings raise (a stand-in for the tests)."""


class Err(Exception):
    def __init__(self, value):
        super().__init__(value)
        self.value = value
