"""A dependency bundled with the sequence."""


def greet(name):
    return f"Hello, {name}!"
