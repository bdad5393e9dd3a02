from __future__ import annotations

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Docket console"

    def ready(self) -> None:
        from console import auth  # noqa: F401 - connects the session stamp to user_logged_in
