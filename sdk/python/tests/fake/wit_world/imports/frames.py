from dataclasses import dataclass

from . import host


@dataclass
class FrameRequest:
    job_id: str
    frame: int
    attempt: int
    settings: str


@dataclass
class Artifact:
    name: str
    media_type: str
    data: bytes


def report_progress(fraction):
    host.progress.append(fraction)
