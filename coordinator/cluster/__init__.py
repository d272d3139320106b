"""Running as several replicas: who holds a singleton duty (``leadership``), and the
runner that starts a duty where it is held and stops it where it is lost (``singleton``)."""
