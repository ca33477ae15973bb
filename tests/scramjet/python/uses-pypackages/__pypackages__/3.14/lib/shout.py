"""A dependency in PEP 582's layout."""


def shout(text):
    return text.upper()
