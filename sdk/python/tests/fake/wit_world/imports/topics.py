from . import host


def publish(topic, data):
    host.published.append((topic, bytes(data).decode()))


def subscribe(topic):
    host.subscribed.append(topic)


def read(topic, max_len):
    chunks = host.topics.get(topic, [])
    return chunks.pop(0) if chunks else None
