"""Push raw article payloads onto newswire's queue."""

from producer.client import PushReport, Publisher, push_paths
from producer.loader import Item, Refusal, load_paths

__all__ = ["Item", "PushReport", "Publisher", "Refusal", "load_paths", "push_paths"]
