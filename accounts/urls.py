from __future__ import annotations

from django.urls import path

from accounts import admin_views, views

app_name = "accounts"

urlpatterns: list = [
    # Accounts, actions and appeals (accounts/views.py).
    path("accounts/", views.accounts, name="accounts"),
    path("accounts/<int:pk>/", views.account, name="account"),
    path("accounts/<int:pk>/notes/", views.account_note, name="account_note"),
    path("accounts/<int:pk>/propose/", views.account_propose, name="account_propose"),
    path("actions/", views.actions, name="actions"),
    path("actions/<int:pk>/", views.action, name="action"),
    path("actions/<int:pk>/step/", views.action_step, name="action_step"),
    path("appeals/<int:pk>/decide/", views.appeal_decide, name="appeal_decide"),
    # Rules and webhooks (accounts/admin_views.py).
    path("rules/", admin_views.rules, name="rules"),
    path("rules/new/", admin_views.rule_new, name="rule_new"),
    path("rules/<int:pk>/", admin_views.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/history/", admin_views.rule_history, name="rule_history"),
    path("rules/<int:pk>/versions/<int:version>/restore/", admin_views.rule_restore, name="rule_restore"),
    path("webhooks/", admin_views.webhooks, name="webhooks"),
    path("webhooks/deliveries/", admin_views.webhook_deliveries, name="webhook_deliveries"),
    path("webhooks/deliveries/<int:pk>/", admin_views.webhook_delivery, name="webhook_delivery"),
    path("webhooks/deliveries/<int:pk>/redeliver/", admin_views.webhook_redeliver, name="webhook_redeliver"),
    path("integrations/<int:pk>/webhooks/", admin_views.webhook_endpoints, name="webhook_endpoints"),
]
