"""The coordinator's HTTP face: ``create_app(settings)`` builds the FastAPI app (``app``)."""

from edgewatch.coordinator.api.app import create_app

__all__ = ["create_app"]
