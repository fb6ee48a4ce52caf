"""Example MedRoute Viewer plugin package.  The viewer never imports it: it only reads the plugin folder(s)
under ``plugins/`` through the ``medroute.plugins`` entry point (see docs/plugins.md)."""

__version__ = "1.0.0"
