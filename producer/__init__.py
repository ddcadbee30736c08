"""Push raw article payloads onto newswire's queue."""

from producer.client import Publisher, PushReport, push_paths
from producer.loader import Item, Refusal, load_paths

__all__ = ["Item", "Publisher", "PushReport", "Refusal", "load_paths", "push_paths"]
