"""``DIR/mosquitto.conf``: the whole broker config of a site (not a conf.d drop-in).

One listener, TLS only; the broker limits of ``deploy/mosquitto/mosquitto.conf`` (which
is this file as rendered for ``/etc/edgewatch/site`` on port 8883, kept equal by a test).
"""

from __future__ import annotations

import glob
from pathlib import Path

from edgewatch.coordinator.site.layout import SiteConfig, SiteLayout
from edgewatch.shared.codec import DEFAULT_MAX_BYTES
from edgewatch.shared.errors import ConfigError

# Where distributions put the plugin: Debian/Ubuntu/Raspberry Pi OS (multiarch), the
# eclipse-mosquitto image (Alpine), and a source build.
PLUGIN_GLOBS = (
    "/usr/lib/*-linux-gnu*/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
)


def find_plugin() -> Path | None:
    for pattern in PLUGIN_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return Path(found[0])
    return None


def require_plugin(given: Path | None) -> Path:
    plugin = given or find_plugin()
    if plugin is None:
        raise ConfigError(
            "the dynamic-security plugin (mosquitto_dynamic_security.so) is not installed "
            "here: install Mosquitto 2 (apt-get install mosquitto), name it with --plugin "
            "PATH, or use --auth files (password and ACL files)"
        )
    if not plugin.exists():
        raise ConfigError(f"--plugin {plugin}: no such file")
    return plugin


def render(layout: SiteLayout, site: SiteConfig, plugin: Path | None) -> str:
    """The config text; ``plugin`` is needed for ``site.auth == "dynsec"``."""
    b = layout
    lines = [
        f"# Mosquitto for the edgewatch site {site.name!r}, written by `edgewatch site init`.",
        f"# Start it with: mosquitto -c {b.mosquitto_conf}",
        "# TLS only. Every client authenticates; every topic it may use is granted by",
        "# its role (docs/security.md); anything else is refused.",
        "",
        "per_listener_settings false",
        "allow_anonymous false",
    ]
    if site.auth == "dynsec":
        if plugin is None:
            raise ConfigError("dynsec needs the plugin's path")
        lines += [
            "# Identities, roles and ACLs, managed live by `edgewatch enroll` / `revoke`",
            "# through $CONTROL/dynamic-security/v1 (the plugin rewrites this file).",
            f"plugin {plugin}",
            f"plugin_opt_config_file {b.dynsec_json}",
        ]
    else:
        lines += [
            "# Fallback without the plugin: `edgewatch enroll` / `revoke` edit these files",
            "# and reload the broker (SIGHUP to the pid file).",
            f"password_file {b.passwd}",
            f"acl_file {b.aclfile}",
            f"pid_file {b.broker_dir / 'mosquitto.pid'}",
        ]
    lines += [
        "",
        "# -- the one listener: TLS ----------------------------------------------------",
        f"listener {site.mqtt_port}",
        "protocol mqtt",
        f"certfile {b.server_cert}",
        f"keyfile {b.server_key}",
        f"cafile {b.ca_cert}",
        "tls_version tlsv1.2",
    ]
    if site.mutual_tls:
        lines += [
            "# Mutual TLS: a client must also show a certificate from the site CA.",
            "require_certificate true",
        ]
    else:
        lines.append("require_certificate false")
    if site.auth == "files":
        lines += [
            "# The client id is the username: no identity can take over another's session.",
            "use_username_as_clientid true",
        ]
    lines += [
        "",
        "# -- durability and queues (deploy/README.md explains each) --------------------",
        "persistence true",
        f"persistence_location {b.data_dir}/",
        "autosave_interval 60",
        "max_queued_messages 20000",
        "max_queued_bytes 1073741824",
        "max_inflight_messages 100",
        f"message_size_limit {DEFAULT_MAX_BYTES}",
        "persistent_client_expiration 7d",
        "",
        "# -- logging --------------------------------------------------------------------",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
    ]
    return "\n".join(lines) + "\n"
