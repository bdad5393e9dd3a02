from __future__ import annotations

app_name = "accounts"

# Account, action and appeal pages (accounts/views.py) and the rule and webhook
# pages (accounts/admin_views.py) are added below.
urlpatterns: list = []
