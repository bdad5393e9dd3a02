from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.status import status_view
from console import calibration_views, policy_views, retention_views, views
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
    # Calibration and retention
    path("policy/calibration/", calibration_views.calibration, name="policy_calibration"),
    path("policy/calibration/what-if/", calibration_views.whatif, name="policy_whatif"),
    path("policy/calibration/profiles/<int:pk>/", calibration_views.calibration_rate, name="policy_calibration_rate"),
    path("policy/retention/", retention_views.retention, name="policy_retention"),
    path("policy/retention/<int:pk>/", retention_views.retention_edit, name="policy_retention_edit"),
]

urlpatterns = [
    # The status endpoint is on the platform's hot path: a plain view, ahead of the API router.
    path("api/v1/accounts/<str:user>/status", status_view),
    path("api/v1/", api.urls),
    path("", include((console_patterns, "console"))),
    path("", include("review.urls")),
    path("", include("accounts.urls")),
]
