from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.status import status_view
from console import export_views, policy_views, views
from console.api import api

app_name = "console"

console_patterns = [
    path("", views.home, name="home"),
    path("livez", views.livez, name="livez"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="registration/password_change_done.html"),
        name="password_change_done",
    ),
    path("settings/", views.staff_settings, name="settings"),
    path("audit/", views.audit_log, name="audit"),
    path("policy/queues/", policy_views.queues, name="policy_queues"),
    path("policy/queues/<int:pk>/", policy_views.queue_edit, name="policy_queue"),
    path("policy/categories/", policy_views.categories, name="policy_categories"),
    path("policy/categories/<slug:slug>/", policy_views.category_edit, name="policy_category"),
    # Exports and scheduled reports (console/export_views.py).
    path("exports/", export_views.exports, name="exports"),
    path("exports/run/<slug:name>/", export_views.export_run, name="export_run"),
    path("exports/<int:pk>/progress/", export_views.export_progress, name="export_progress"),
    path("exports/<int:pk>/download/", export_views.export_download, name="export_download"),
    path("exports/subscribe/<slug:name>/", export_views.subscription_new, name="subscription_new"),
    path("exports/subscriptions/<int:pk>/delete/", export_views.subscription_delete, name="subscription_delete"),
]

urlpatterns = [
    # The status endpoint is on the platform's hot path: a plain view, ahead of the API router.
    path("api/v1/accounts/<str:user>/status", status_view),
    path("api/v1/", api.urls),
    path("", include((console_patterns, "console"))),
    path("", include("review.urls")),
    path("", include("accounts.urls")),
]
